package replicatest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
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
	built := buildBinaryAsync(t)
	c.jobs(1, 3, 2)
	c.close(1, 3, "now() - interval '2 hours'")
	c.CatchUp()
	var switched string
	if err := c.Primary.Get(&switched, "SELECT pg_switch_wal()::text"); err != nil {
		t.Fatal(err)
	}
	c.waitReplayed(switched)
	c.CatchUp() // waits for what there is to replay, not for the insert position past the new segment's header
	var insert, replay string
	_ = c.Primary.Get(&insert, "SELECT pg_current_wal_insert_lsn()::text")
	_ = c.Standby.Get(&replay, "SELECT pg_last_wal_replay_lsn()::text")
	t.Logf("after pg_switch_wal: primary insert position %s, standby replayed %s", insert, replay)
	bin := built()
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

// Through the real binary, the replica's configuration where commands meet
// it: a malformed REPLICA_DATABASE_URL is a configuration error (exit 2, the
// part at fault named, no password) like a malformed DATABASE_URL, for run
// and schedule; schedule given the primary as its replica refuses to start
// (exit 2) as run does, rather than fail every tick; with the standby down,
// the commands that do not plan (discrepancies list and ack, migrate,
// applying a reviewed plan) work, since they need only the database.
func TestCommandsWithoutTheReplica(t *testing.T) {
	c := newCluster(t)
	bin := buildBinary(t)
	const pw = "R3pl-s3cr3t"
	for _, bad := range []struct{ dsn, says string }{
		{"postgres://reconciler_app:" + pw + "@127.0.0.1:notaport/reconciler", `replica database url: port "notaport"`},
		{"postgres://reconciler_app:" + pw + "@127.0.0.1/reconciler?sslmode=bogus", `replica database url: sslmode "bogus"`},
	} {
		for _, args := range [][]string{{"run", "--dry-run"}, {"schedule", "--listen-address", "127.0.0.1:0"}} {
			code, stdout, stderr := invokeWithin(t, bin, 20*time.Second, map[string]string{"DATABASE_URL": c.appURL, "REPLICA_DATABASE_URL": bad.dsn}, args...)
			// the way out is a JSON record off a terminal: its message escaped
			escaped, _ := json.Marshal(bad.says)
			says := strings.Contains(stderr, bad.says) || strings.Contains(stderr, strings.Trim(string(escaped), `"`))
			if code != 2 || !says || strings.Contains(stdout+stderr, pw) {
				t.Errorf("%s with a malformed replica URL (%s): exit %d (want 2), message (want %q, no password):\n%s", args[0], bad.says, code, bad.says, stderr)
			}
		}
	}

	// The primary given as the replica: schedule refuses at once.
	code, _, stderr := invokeWithin(t, bin, 20*time.Second, map[string]string{"DATABASE_URL": c.appURL, "REPLICA_DATABASE_URL": c.appURL},
		"schedule", "--listen-address", "127.0.0.1:0", "--schedule", "@every 1s")
	if code != 2 || !strings.Contains(stderr, "is not a hot standby") {
		t.Errorf("schedule given the primary as its replica: exit %d (want 2 at once, naming it; -1: still running after 20s), stderr:\n%s", code, stderr)
	}

	// An exception to list and acknowledge, and a reviewed plan to apply.
	c.jobs(1, 2, 2)
	c.close(1, 1, "now() - interval '2 hours'")
	c.onlineRefund(201, "base")
	c.sweep("opens", false)
	c.close(2, 1, "now() - interval '2 hours'")
	c.CatchUp()
	env := map[string]string{"DATABASE_URL": c.appURL, "REPLICA_DATABASE_URL": c.appReplicaURL}
	plan := filepath.Join(t.TempDir(), "plan.json")
	if code, _, stderr := invoke(t, bin, env, "run", "--dry-run", "--full", "--plan-out", plan, "--format", "json"); code != 0 {
		t.Fatalf("dry run saving a plan: exit %d\n%s", code, stderr)
	}

	c.StopStandby()
	code, stdout, stderr := invoke(t, bin, env, "discrepancies", "list", "--format", "json")
	if code != 0 || !strings.Contains(stdout, "201") || !strings.Contains(stdout, "unexpected_refund") {
		t.Errorf("discrepancies list with the standby down: exit %d (want 0, listing proposal 201)\n%s\n%s", code, stdout, stderr)
	}
	code, _, stderr = invoke(t, bin, env, "discrepancies", "ack", "--proposal", "201", "--component", "base", "--note", "seen", "--by", "ops")
	if code != 0 {
		t.Errorf("discrepancies ack with the standby down: exit %d (want 0)\n%s", code, stderr)
	}
	// migrate runs as the schema's owner
	if code, _, stderr = invoke(t, bin, map[string]string{"DATABASE_URL": c.PrimaryURL, "REPLICA_DATABASE_URL": c.StandbyURL}, "migrate"); code != 0 {
		t.Errorf("migrate with the standby down: exit %d (want 0)\n%s", code, stderr)
	}
	before := c.ledger()
	if code, _, stderr = invoke(t, bin, env, "run", "--plan", plan, "--format", "json"); code != 0 {
		t.Errorf("applying a reviewed plan with the standby down: exit %d (want 0)\n%s", code, stderr)
	}
	if l := c.ledger(); l.Refunds != before.Refunds+3 || l.Doubled != 0 || l.BadBalances != 0 {
		t.Errorf("the reviewed plan wrote %d refunds (want the 3 of job 2 not refunded online), ledger %+v", l.Refunds-before.Refunds, l)
	}
	// Planning still needs it: exit 1, named.
	if code, _, stderr = invoke(t, bin, env, "run", "--dry-run"); code != 1 || !strings.Contains(stderr, "replica_database_url") {
		t.Errorf("a dry run with the standby down: exit %d (want 1, naming replica_database_url)\n%s", code, stderr)
	}
}

// invokeWithin runs the binary like invoke, killing it after timeout: then
// the exit code is -1.
func invokeWithin(t *testing.T, bin string, timeout time.Duration, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(bg, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TMPDIR=" + os.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return -1, stdout.String(), stderr.String()
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), stdout.String(), stderr.String()
	default:
		t.Fatalf("run %v: %v", args, err)
		return 0, "", ""
	}
}
