package replicatest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// buildBinary builds the command into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	return buildBinaryAsync(t)()
}

// buildBinaryAsync starts building the command while the test sets up; the
// function it returns waits for the build and fails the test when it failed,
// in the test's own goroutine (t.Fatal in another would leave the test
// waiting for a binary that never comes).
func buildBinaryAsync(t *testing.T) func() string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "connects-reconciler")
	done := make(chan error, 1)
	go func() {
		out, err := exec.Command("go", "build", "-o", bin, "../../cmd/connects-reconciler").CombinedOutput()
		if err != nil {
			err = fmt.Errorf("go build: %v\n%s", err, out)
		}
		done <- err
	}()
	return func() string {
		t.Helper()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		return bin
	}
}

// invoke runs the binary to its end with only env set.
func invoke(t *testing.T, bin string, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TMPDIR=" + os.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), stdout.String(), stderr.String()
	default:
		t.Fatalf("run %v: %v", args, err)
		return 0, "", ""
	}
}

// report is the part of a dry run's JSON report that must not depend on
// where it was planned.
type report struct {
	Refunds       json.RawMessage `json:"refunds"`
	Discrepancies json.RawMessage `json:"discrepancies"`
	Totals        json.RawMessage `json:"totals"`
}

func dryRun(t *testing.T, bin string, env map[string]string) (report, string) {
	t.Helper()
	code, stdout, stderr := invoke(t, bin, env, "run", "--dry-run", "--full", "--format", "json")
	if code != 0 {
		t.Fatalf("dry run: exit %d\n%s", code, stderr)
	}
	var r report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("dry run output: %v\n%s", err, stdout)
	}
	return r, stderr
}

// The real binary: a dry run planned on the caught-up replica equals one
// planned on the primary; a replica URL naming a primary is refused (exit
// 2); a replica stopped in the middle of planning fails the run (exit 1)
// with a message naming the replica, writing nothing, and the next run
// completes, writing each refund once. Passwords never reach the output.
func TestReplicaCommand(t *testing.T) {
	c := newCluster(t)
	bin := buildBinary(t)
	anchor := time.Now().Add(-2 * time.Hour).UTC().Format(time.RFC3339)
	if code, _, stderr := invoke(t, bin, map[string]string{"DATABASE_URL": c.PrimaryURL},
		"seed", "--seed", "7", "--proposals", "1500", "--missing-percent", "50", "--anchor", anchor); code != 0 {
		t.Fatalf("seed: exit %d\n%s", code, stderr)
	}
	before := c.ledger()
	c.CatchUp()

	// A password in the replica's URL (trust auth ignores it) must never be
	// printed.
	replicaURL := strings.Replace(c.appReplicaURL, "reconciler_app@", "reconciler_app:s3cr3t-pw@", 1)
	primaryEnv := map[string]string{"DATABASE_URL": c.appURL}
	replicaEnv := map[string]string{"DATABASE_URL": c.appURL, "REPLICA_DATABASE_URL": replicaURL}

	onPrimary, _ := dryRun(t, bin, primaryEnv)
	onReplica, stderr := dryRun(t, bin, replicaEnv)
	if !reflect.DeepEqual(onPrimary, onReplica) {
		t.Fatalf("dry run on the replica differs from the primary's:\nprimary totals %s\nreplica totals %s", onPrimary.Totals, onReplica.Totals)
	}
	var planned []json.RawMessage
	if err := json.Unmarshal(onReplica.Refunds, &planned); err != nil || len(planned) == 0 {
		t.Fatalf("dry run planned %d refunds (%v); the seed leaves some missing", len(planned), err)
	}
	if !strings.Contains(stderr, "planning on a read replica") || strings.Contains(stderr, "s3cr3t-pw") {
		t.Errorf("dry run on the replica: the log must say so and never show the password:\n%s", stderr)
	}
	t.Logf("dry run: %d refunds planned, the same on the replica and the primary", len(planned))

	// The replica's URL naming the primary: a configuration mistake.
	code, _, stderr := invoke(t, bin, map[string]string{"DATABASE_URL": c.appURL, "REPLICA_DATABASE_URL": c.appURL}, "run", "--dry-run")
	if code != 2 || !strings.Contains(stderr, "is not a hot standby") {
		t.Errorf("replica URL naming the primary: exit %d (want 2), message:\n%s", code, stderr)
	}

	// Stop the standby while the run plans on it, one small slice at a time.
	cmd := exec.Command(bin, "run", "--full", "--batch-size", "3", "--parallel", "1", "--retries", "1", "--retry-backoff", "10ms", "--format", "json")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "DATABASE_URL=" + c.appURL, "REPLICA_DATABASE_URL=" + replicaURL}
	var stdout, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(time.Minute)
	for {
		var planning bool
		err := c.Standby.Get(&planning, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
		    WHERE application_name = 'connects-reconciler' AND state = 'active' AND query LIKE '%name: Plan :many%')`)
		if err == nil && planning {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the run ended (%v) before it was seen planning on the standby:\n%s", err, errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the run was not seen planning on the standby within a minute")
		}
		time.Sleep(2 * time.Millisecond)
	}
	c.StopStandby()
	err := <-done
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("run with the standby stopped mid-plan: %v (want exit 1)\n%s", err, errOut.String())
	}
	msg := errOut.String()
	last := msg[strings.LastIndex(strings.TrimRight(msg, "\n"), "\n")+1:]
	// The way out is the log's last record (JSON here: the log is not a
	// terminal), at level error.
	if !strings.Contains(last, `"level":"error"`) || !strings.Contains(last, "replica") || strings.Contains(msg, "s3cr3t-pw") {
		t.Fatalf("the final record must be an error naming the replica, and no password:\n%s", last)
	}
	t.Logf("standby stopped mid-run: exit 1: %s", strings.TrimSpace(last))
	var failed struct {
		Status string `db:"status"`
		Error  string `db:"error"`
	}
	if err := c.Primary.Get(&failed, `SELECT status, coalesce(error, '') AS error FROM reconciler_runs ORDER BY started_at DESC LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	if failed.Status != "failed" || !strings.Contains(failed.Error, "replica") {
		t.Errorf("run record of the failed run: %+v", failed)
	}
	if l := c.ledger(); l != before {
		t.Fatalf("the failed run changed the ledger: %+v, before %+v", l, before)
	}
	// Down before the run starts: exit 1, named.
	code, _, stderr = invoke(t, bin, replicaEnv, "run", "--dry-run")
	if code != 1 || !strings.Contains(stderr, "replica_database_url") || strings.Contains(stderr, "s3cr3t-pw") {
		t.Errorf("dry run with the standby down: exit %d (want 1), message:\n%s", code, stderr)
	}

	c.StartStandby()
	c.CatchUp()
	code, stdout2, stderr := invoke(t, bin, replicaEnv, "run", "--full", "--format", "json")
	if code != 0 {
		t.Fatalf("run after the standby is back: exit %d\n%s", code, stderr)
	}
	var out struct {
		Refunds []json.RawMessage `json:"refunds"`
	}
	if err := json.Unmarshal([]byte(stdout2), &out); err != nil {
		t.Fatal(err)
	}
	l := c.ledger()
	var rec runRecord
	if err := c.Primary.Get(&rec, `SELECT status, planned_on, extract(epoch FROM replica_lag)::float8 AS lag, error, refunds_issued
	    FROM reconciler_runs ORDER BY started_at DESC LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	t.Logf("next run: wrote %d refunds (planned %d by the dry runs); ledger %d refunds (%d before), %d doubled; planned on %v",
		len(out.Refunds), len(planned), l.Refunds, before.Refunds, l.Doubled, deref(rec.PlannedOn))
	if len(out.Refunds) != len(planned) || l.Refunds != before.Refunds+len(planned) || l.Doubled != 0 || l.BadBalances != 0 ||
		rec.Status != "succeeded" || deref(rec.PlannedOn) != "replica" {
		t.Fatalf("next run: wrote %d, want %d; ledger %+v; record %+v", len(out.Refunds), len(planned), l, rec)
	}
	code, stdout2, _ = invoke(t, bin, replicaEnv, "run", "--full", "--format", "json")
	if err := json.Unmarshal([]byte(stdout2), &out); code != 0 || err != nil || len(out.Refunds) != 0 {
		t.Fatalf("a run after that: exit %d, wrote %d (want 0)", code, len(out.Refunds))
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
