package replicatest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

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
