package replicatest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/connects/connects-reconciler/reconcile"
	"github.com/connects/connects-reconciler/reconcile/postgres"
)

// waitReplayed waits until the standby has replayed up to lsn.
func (c *cluster) waitReplayed(lsn string) {
	c.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var done bool
		err := c.Standby.Get(&done, "SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false)", lsn)
		if err == nil && done {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the standby did not replay up to %s within a minute (%v)", lsn, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A caught-up standby of an idle primary after a WAL segment switch
// (pg_switch_wal(), or archive_timeout on a quiet night) is not behind: the
// primary's insert position is past the standby's replay position only by
// the new segment's page header, with nothing to replay. The store reads it
// as complete (lag 0); a dry run with a tight max_replica_lag succeeds; an
// export of a period that has ended says complete.
func TestIdlePrimaryAfterWALSwitch(t *testing.T) {
	c := newCluster(t)
	built := make(chan string, 1)
	go func() { built <- buildBinary(t) }()
	c.jobs(1, 3, 2)
	c.close(1, 3, "now() - interval '2 hours'")
	c.CatchUp()
	var switched string
	if err := c.Primary.Get(&switched, "SELECT pg_switch_wal()::text"); err != nil {
		t.Fatal(err)
	}
	c.waitReplayed(switched)
	var insert, replay string
	_ = c.Primary.Get(&insert, "SELECT pg_current_wal_insert_lsn()::text")
	_ = c.Standby.Get(&replay, "SELECT pg_last_wal_replay_lsn()::text")
	t.Logf("after pg_switch_wal: primary insert position %s, standby replayed %s", insert, replay)
	bin := <-built
	time.Sleep(3 * time.Second) // the last transaction the standby replayed is 3s old

	store := postgres.NewStore(c.app, zaptest.NewLogger(t)).WithReplica(c.appReplica, c.appReplicaURL)
	reads, err := store.Reads(bg)
	if err != nil {
		t.Fatal(err)
	}
	if reads.Until != nil || reads.Lag != 0 {
		t.Fatalf("idle primary after a WAL switch: the caught-up standby reads as behind by %s (replayed until %v)", reads.Lag, reads.Until)
	}

	env := map[string]string{"DATABASE_URL": c.appURL, "REPLICA_DATABASE_URL": c.appReplicaURL}
	code, _, stderr := invoke(t, bin, env, "run", "--dry-run", "--full", "--format", "json", "--max-replica-lag", "2s")
	if code != 0 {
		t.Fatalf("dry run with max_replica_lag 2s on the caught-up standby of an idle primary: exit %d\n%s", code, stderr)
	}
	out := filepath.Join(t.TempDir(), "refunds.csv")
	to := time.Now().Add(-time.Second).UTC().Format(time.RFC3339)
	code, _, stderr = invoke(t, bin, env, "export", "--from", "2026-01-01", "--to", to, "--out", out)
	if code != 0 {
		t.Fatalf("export: exit %d\n%s", code, stderr)
	}
	b, err := os.ReadFile(out + ".manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Complete bool `json:"complete"`
	}
	if err := json.Unmarshal(b, &m); err != nil || !m.Complete {
		t.Fatalf("export of a period that ended, read on the caught-up standby of an idle primary: complete %v (%v)\n%s", m.Complete, err, b)
	}
	if strings.Contains(stderr, "behind") {
		t.Errorf("export logs the standby as behind:\n%s", stderr)
	}
}

// exceptionRow is one exception as the primary holds it.
type exceptionRow struct {
	State     string    `db:"state"`
	OpenSince time.Time `db:"open_since"`
	Reopened  int       `db:"reopened_count"`
	Acked     bool      `db:"acked"`
}

func (c *cluster) exception(proposal int64, component string) exceptionRow {
	c.t.Helper()
	var e exceptionRow
	if err := c.Primary.Get(&e, `SELECT state, open_since, reopened_count,
	        EXISTS (SELECT 1 FROM reconciler_exception_acks a WHERE a.exception_id = e.id AND a.acked_at >= e.open_since) AS acked
	    FROM reconciler_exceptions e WHERE proposal_id = $1 AND component = $2`, proposal, component); err != nil {
		c.t.Fatalf("exception %d %s: %v", proposal, component, err)
	}
	return e
}

// sweep runs a full sweep, planned on the standby when onReplica, on the
// primary otherwise; it returns what recording its exceptions did.
func (c *cluster) sweep(id string, onReplica bool) reconcile.ExceptionsRecorded {
	c.t.Helper()
	opts := reconcile.Options{Full: true, BatchSize: 50, ApplyBatchSize: 10, Retries: 1, RetryBackoff: time.Millisecond, MaxReplicaLag: time.Hour}
	r := c.reconciler(reconcile.DefaultPolicy(), opts)
	if !onReplica {
		r.Store = postgres.NewStore(c.app, zaptest.NewLogger(c.t))
	}
	res, err := r.Run(bg, id)
	if err != nil {
		c.t.Fatalf("sweep %s: %v", id, err)
	}
	defer res.Close()
	if res.Exceptions == nil {
		c.t.Fatalf("sweep %s recorded no exceptions", id)
	}
	return *res.Exceptions
}

// A full sweep planned on a standby that has not replayed what the primary's
// sweep found must not close (nor, for a correction it has not replayed,
// reopen) the exception: closing concludes "no longer there", which only a
// view containing everything up to the run's start can tell. Otherwise the
// next sweep reopens it, restarting its 7-day clock and voiding its
// acknowledgement. Once the standby has caught up, its sweeps close and
// refresh as the primary's do.
func TestStaleSweepClosesNothing(t *testing.T) {
	c := newCluster(t)
	c.jobs(1, 2, 2)
	c.CatchUp()

	// The standby stops replaying; on the primary, a refund no rule entitles
	// (the job is open): the primary's sweep opens an exception, and
	// finance acknowledges it.
	c.PauseReplay()
	c.onlineRefund(101, "base")
	if rec := c.sweep("primary-opens", false); rec.Opened != 1 {
		t.Fatalf("the primary's sweep opened %d exceptions, want 1", rec.Opened)
	}
	store := postgres.NewStore(c.app, zaptest.NewLogger(t))
	if _, err := store.Acknowledge(bg, 101, reconcile.Base, "", "finance@example.com", "refund approved by support"); err != nil {
		t.Fatal(err)
	}
	opened := c.exception(101, "base")
	if opened.State != "open" || !opened.Acked {
		t.Fatalf("after the primary's sweep and the ack: %+v", opened)
	}
	time.Sleep(1100 * time.Millisecond)

	// The sweep on the paused standby does not see the refund.
	rec := c.sweep("stale-sweep", true)
	if e := c.exception(101, "base"); e.State != "open" || rec.Closed != 0 || !rec.CloseWithheld {
		t.Fatalf("a full sweep on a standby behind the primary closed the exception it could not see: %+v, recorded %+v", e, rec)
	}

	// Caught up, the standby's sweep sees it: still the same open
	// exception, its clock and its acknowledgement intact.
	c.ResumeReplay()
	c.CatchUp()
	rec = c.sweep("caught-up", true)
	e := c.exception(101, "base")
	if e.State != "open" || e.Reopened != 0 || !e.OpenSince.Equal(opened.OpenSince) || !e.Acked || rec.CloseWithheld {
		t.Fatalf("after a sweep on the caught-up standby: %+v (was %+v), recorded %+v; want open since the first sighting, never reopened, still acknowledged",
			e, opened, rec)
	}

	// The reverse: the refund is corrected on the primary (a person's
	// adjustment, here by hand) and the primary's sweep closes the
	// exception; a sweep on a standby that has not replayed the correction
	// still sees the refund and must not reopen it.
	c.PauseReplay()
	c.exec(`DELETE FROM connects_ledger WHERE proposal_id = 101 AND entry_type = 'refund'`)
	c.exec(`UPDATE connects_balances SET balance = balance - 4 WHERE freelancer_id = 101`)
	if rec := c.sweep("primary-closes", false); rec.Closed != 1 {
		t.Fatalf("the primary's sweep closed %d exceptions after the correction, want 1", rec.Closed)
	}
	time.Sleep(1100 * time.Millisecond)
	rec = c.sweep("stale-reopen", true)
	if e := c.exception(101, "base"); e.State != "closed" || e.Reopened != 0 || rec.Reopened != 0 {
		t.Fatalf("a sweep on a standby that has not replayed the correction reopened the exception: %+v, recorded %+v", e, rec)
	}
	c.ResumeReplay()
	c.CatchUp()
	if rec := c.sweep("caught-up-again", true); rec.Reopened != 0 || rec.Open != 0 || rec.CloseWithheld {
		t.Fatalf("sweep on the caught-up standby after the correction: %+v", rec)
	}
}
