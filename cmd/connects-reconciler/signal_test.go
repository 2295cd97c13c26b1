package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/connects/connects-reconciler/reconcile/postgres/pgtest"
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
		goBin, err := exec.LookPath("go")
		if err != nil {
			done <- fmt.Errorf("go build needs the go command on PATH: %v", err)
			return
		}
		if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
			done <- fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		done <- nil
	}()
	return func() string {
		t.Helper()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		return bin
	}
}

// TestSIGTERM sends SIGTERM to real processes, built once, in the middle of
// a run: the run command's and the schedule command's.
func TestSIGTERM(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	t.Run("run", func(t *testing.T) { t.Parallel(); testSIGTERMRun(t, bin) })
	t.Run("schedule", func(t *testing.T) { t.Parallel(); testSIGTERMSchedule(t, bin) })
}

// testSIGTERMRun sends SIGTERM to a real process while an apply batch
// waits for a balance row the test holds locked (the batch of that account's
// refunds, set aside and written after the rest, waiting with a long
// --apply-lock-timeout): the process must exit 1, record the run as
// interrupted, keep the batches it committed whole (every other refund), and
// leave every balance equal to its ledger sum. A second run then finishes
// the work.
func testSIGTERMRun(t *testing.T, bin string) {
	url := pgtest.NewURL(t)
	db := sqlx.MustOpen("postgres", url)
	t.Cleanup(func() { db.Close() })
	env := map[string]string{"DATABASE_URL": url}
	if code, _, stderr := invoke(t, env, "seed", "--seed", "7", "--proposals", "1000", "--missing-percent", "60"); code != exitOK {
		t.Fatalf("seed: exit %d\n%s", code, stderr)
	}

	code, stdout, stderr := invoke(t, env, "run", "--dry-run", "--format", "json")
	if code != exitOK {
		t.Fatalf("dry run: exit %d\n%s", code, stderr)
	}
	var plan jsonOut
	if err := json.Unmarshal([]byte(stdout), &plan); err != nil {
		t.Fatalf("dry run: %v", err)
	}
	const batch = 10
	// The refund to block on: the first one, from the third batch on, whose
	// account no earlier batch credits, so those batches commit first.
	block := -1
	seen := map[int64]bool{}
	for i, r := range plan.Refunds {
		if i%batch == 0 && i >= 2*batch && block < 0 {
			for j := i; j < min(i+batch, len(plan.Refunds)); j++ {
				if !seen[plan.Refunds[j].FreelancerID] {
					block = j
					break
				}
			}
		}
		seen[r.FreelancerID] = true
	}
	if block < 0 {
		t.Fatalf("the seed planned %d refunds; found no account to block on", len(plan.Refunds))
	}
	blocked := plan.Refunds[block].FreelancerID
	// Every refund but the blocked account's is written before the run
	// waits: that account's are set aside and written last.
	var want []int
	for i, r := range plan.Refunds {
		if r.FreelancerID != blocked {
			want = append(want, i)
		}
	}
	committed := len(want)

	ctx := context.Background()
	holder, err := db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	holder.MustExec(`SELECT balance FROM connects_balances WHERE freelancer_id = $1 FOR UPDATE`, blocked)

	var out, errOut syncBuffer
	cmd := exec.Command(bin, "run", "--format", "json", "--log-format", "json",
		"--apply-batch-size", "10", "--lock-timeout", "5m", "--apply-lock-timeout", "5m")
	cmd.Env = []string{"DATABASE_URL=" + url}
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	var dbName string
	if err := db.Get(&dbName, `SELECT current_database()`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the run to wait for the locked balance", func() bool {
		select {
		case err := <-exited:
			t.Fatalf("the run ended before it blocked: %v\n%s", err, errOut.String())
		default:
		}
		// A lock wait alone is not enough: the apply workers also wait for
		// each other on the run's record (apply_audit.sql moves its
		// counters), while rounds are still in flight. The run waits for the
		// held balance once every other refund has committed.
		var waiting, written int
		_ = db.Get(&waiting, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'`, dbName)
		_ = db.Get(&written, `SELECT count(*) FROM connects_ledger WHERE idempotency_key LIKE 'refund:%'`)
		return waiting > 0 && written == committed
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err = <-exited:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("no exit within 30s of SIGTERM\n%s", errOut.String())
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != exitFailed {
		t.Fatalf("exit after SIGTERM: got %v, want exit status %d\n%s", err, exitFailed, errOut.String())
	}
	// The process ended while the test still holds the row: the blocked
	// statement was cancelled, not waited out.
	holder.Rollback()

	var rec struct {
		Status string `db:"status"`
		Issued int64  `db:"refunds_issued"`
		Error  string `db:"error"`
	}
	if err := db.Get(&rec, `SELECT status, refunds_issued, coalesce(error, '') AS error FROM reconciler_runs`); err != nil {
		t.Fatalf("run record: %v", err)
	}
	if rec.Status != "interrupted" || rec.Issued != int64(committed) {
		t.Errorf("run record: got status %q, %d issued; want interrupted, %d (all but the blocked account's)\nerror: %s",
			rec.Status, rec.Issued, committed, rec.Error)
	}
	type pc struct {
		Proposal  int64  `db:"proposal_id"`
		Component string `db:"component"`
	}
	var written []pc
	if err := db.Select(&written, `SELECT proposal_id, component FROM connects_ledger
	    WHERE idempotency_key LIKE 'refund:%' ORDER BY proposal_id, component`); err != nil {
		t.Fatal(err)
	}
	if len(written) != committed {
		t.Errorf("refunds in the ledger: got %d, want %d: whole batches only", len(written), committed)
	}
	for i := range min(len(written), committed) {
		if p := plan.Refunds[want[i]]; written[i].Proposal != p.ProposalID || written[i].Component != p.Component {
			t.Errorf("written refund %d: got %+v, want the plan's %d/%s", i, written[i], p.ProposalID, p.Component)
			break
		}
	}
	checkBalances(t, db)
	if !strings.Contains(errOut.String(), `"status":"interrupted"`) {
		t.Errorf("log lacks the interrupted run:\n%s", errOut.String())
	}

	// Catching up: the next run writes the rest.
	code, _, stderr = invoke(t, env, "run", "--format", "json", "--apply-batch-size", "10")
	if code != exitOK {
		t.Fatalf("run after the interruption: exit %d\n%s", code, stderr)
	}
	var total int
	_ = db.Get(&total, `SELECT count(*) FROM connects_ledger WHERE idempotency_key LIKE 'refund:%'`)
	if total != len(plan.Refunds) {
		t.Errorf("after catching up: %d refunds written, want the plan's %d", total, len(plan.Refunds))
	}
	checkBalances(t, db)
}

// checkBalances fails the test unless every balance equals its ledger sum.
func checkBalances(t *testing.T, db *sqlx.DB) {
	t.Helper()
	var off int
	if err := db.Get(&off, `SELECT count(*) FROM connects_balances b
	    LEFT JOIN (SELECT freelancer_id, sum(amount) AS total FROM connects_ledger GROUP BY freelancer_id) l USING (freelancer_id)
	    WHERE b.balance <> coalesce(l.total, 0)`); err != nil {
		t.Fatal(err)
	}
	if off != 0 {
		t.Errorf("balances that differ from their ledger sum: got %d, want 0", off)
	}
}

// testSIGTERMSchedule sends SIGTERM to a real schedule process while
// its run waits for a balance row the test holds locked: the run is recorded
// interrupted, nothing of its batch is written, and the process exits 1.
func testSIGTERMSchedule(t *testing.T, bin string) {
	url, db := smallMarket(t)
	holder, err := db.BeginTxx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	holder.MustExec(`SELECT balance FROM connects_balances WHERE freelancer_id = 100 FOR UPDATE`)
	var dbName string
	if err := db.Get(&dbName, `SELECT current_database()`); err != nil {
		t.Fatal(err)
	}

	addr := freeAddr(t)
	var errOut syncBuffer
	cmd := exec.Command(bin, "schedule", "--schedule", "@every 1s", "--listen-address", addr,
		"--log-format", "json", "--lock-timeout", "5m")
	cmd.Env = []string{"DATABASE_URL=" + url}
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	waitFor(t, 60*time.Second, "the scheduled run to wait for the locked balance", func() bool {
		select {
		case err := <-exited:
			t.Fatalf("schedule ended before its run blocked: %v\n%s", err, errOut.String())
		default:
		}
		var waiting int
		_ = db.Get(&waiting, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'`, dbName)
		return waiting > 0
	})
	if code, _ := httpGet("http://" + addr + "/healthz"); code != 200 {
		t.Errorf("/healthz during the run: got %d, want 200", code)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err = <-exited:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("no exit within 30s of SIGTERM\n%s", errOut.String())
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != exitFailed {
		t.Fatalf("exit after SIGTERM: got %v, want exit status %d\n%s", err, exitFailed, errOut.String())
	}
	holder.Rollback()

	var statuses []string
	if err := db.Select(&statuses, `SELECT status FROM reconciler_runs ORDER BY started_at`); err != nil {
		t.Fatal(err)
	}
	if len(statuses) != 1 || statuses[0] != "interrupted" {
		t.Errorf("runs: got %v, want one, interrupted", statuses)
	}
	var written int
	_ = db.Get(&written, `SELECT count(*) FROM connects_ledger WHERE idempotency_key LIKE 'refund:%'`)
	if written != 0 {
		t.Errorf("refunds written by the interrupted batch: got %d, want 0", written)
	}
	checkBalances(t, db)
	if code, _ := httpGet("http://" + addr + "/healthz"); code != 0 {
		t.Errorf("after exit /healthz answered %d", code)
	}
}
