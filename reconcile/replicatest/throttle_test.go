package replicatest

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The real binary with a hot standby whose replay is paused: the apply does
// not write while the standby is further behind than
// --apply-max-replica-lag (the run stays alive, writing nothing); once
// replay resumes and the standby catches up, the same run writes every
// refund, each once, and exits 0.
func TestApplyPausesForReplicaLag(t *testing.T) {
	c := newCluster(t)
	bin := buildBinary(t)
	c.jobs(1, 40, 5)
	c.close(1, 40, "now() - interval '1 hour'")
	c.CatchUp()
	c.PauseReplay()
	resumed := false
	defer func() {
		if !resumed {
			c.ResumeReplay()
		}
	}()
	// Let the paused standby fall more than the limit behind the primary's
	// clock: the run's own record is the first transaction it misses.
	time.Sleep(1500 * time.Millisecond)

	cmd := exec.Command(bin, "run", "--full", "--settle-delay", "0s", "--apply-batch-size", "10",
		"--apply-max-replica-lag", "1s", "--format", "json")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "DATABASE_URL=" + c.appURL, "REPLICA_DATABASE_URL=" + c.appReplicaURL}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	refunds := func() int {
		var n int
		if err := c.Primary.Get(&n, `SELECT count(*) FROM connects_ledger WHERE idempotency_key LIKE 'refund:%'`); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// The run records itself and plans, then pauses before its first batch.
	deadline := time.Now().Add(time.Minute)
	for {
		var planned bool
		_ = c.Primary.Get(&planned, `SELECT EXISTS (SELECT 1 FROM reconciler_runs WHERE refunds_planned > 0)`)
		if planned {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the run ended (%v) before it planned:\n%s", err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the run did not plan within a minute")
		}
	}
	for range 3 {
		time.Sleep(time.Second)
		select {
		case err := <-done:
			t.Fatalf("the run ended (%v) while the standby's replay was paused:\n%s", err, stderr.String())
		default:
		}
		if n := refunds(); n != 0 {
			t.Fatalf("%d refunds written while the standby's replay was paused, more than 1s behind", n)
		}
	}
	c.ResumeReplay()
	resumed = true
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v\n%s", err, stderr.String())
		}
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("the run did not end within a minute of the standby's resuming:\n%s", stderr.String())
	}
	if n := refunds(); n != 400 {
		t.Errorf("%d refunds written, want 400 (40 jobs of 5 proposals, base and boost)", n)
	}
	var doubled, off int
	_ = c.Primary.Get(&doubled, `SELECT count(*) FROM (SELECT 1 FROM connects_ledger WHERE entry_type = 'refund'
	    GROUP BY proposal_id, component HAVING count(*) > 1) d`)
	_ = c.Primary.Get(&off, `SELECT count(*) FROM connects_balances b
	    FULL JOIN (SELECT freelancer_id, sum(amount) AS total FROM connects_ledger GROUP BY freelancer_id) l USING (freelancer_id)
	    WHERE b.balance IS DISTINCT FROM l.total`)
	if doubled+off > 0 {
		t.Errorf("%d components refunded twice, %d balances off their ledger sum", doubled, off)
	}
	log := stderr.String()
	if !strings.Contains(log, "apply paused: the replica is too far behind") || !strings.Contains(log, "apply resumed") {
		t.Errorf("the log does not say the apply paused and resumed:\n%s", log)
	}
}
