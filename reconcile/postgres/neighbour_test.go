package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/connects/connects-reconciler/reconcile"
	"github.com/connects/connects-reconciler/reconcile/postgres"
)

// batchSizes returns the number of job refunds each apply transaction wrote,
// in the order they were written (the transactions are told apart by the
// ledger rows' xmin), and the index of the one that wrote proposal victim.
func (f *faultDB) batchSizes(victim int64) (sizes []int, at int) {
	f.t.Helper()
	var rows []struct {
		N      int  `db:"n"`
		Victim bool `db:"victim"`
	}
	f.sel(&rows, `SELECT count(*) AS n, bool_or(proposal_id = $1) AS victim
	    FROM connects_ledger WHERE idempotency_key LIKE 'refund:%'
	    GROUP BY xmin::text ORDER BY min(id)`, victim)
	at = -1
	for i, r := range rows {
		sizes = append(sizes, r.N)
		if r.Victim {
			at = i
		}
	}
	return sizes, at
}

// Apply transactions are sized by time: one slow statement (a trigger
// sleeping on one refund's insert) makes the batch that holds it take far
// longer than apply_batch_time, and the next batch is smaller in proportion;
// nothing is lost or doubled.
func TestApplyBatchSizedByTime(t *testing.T) {
	t.Parallel()
	f := newFaultDB(t, 6000, 60)
	refunds := make([]reconcile.Refund, 0, len(f.want))
	for _, r := range f.want {
		refunds = append(refunds, r)
	}
	sortRefunds(refunds)
	if len(refunds) < 400 {
		t.Fatalf("the marketplace owes %d refunds; the test needs at least 400", len(refunds))
	}
	// Past the first batch (100 refunds), so that the batch holding it has
	// grown from what the first one took.
	victim := refunds[250].ProposalID
	f.db.MustExec(fmt.Sprintf(`
	    CREATE FUNCTION test_slow_refund() RETURNS trigger LANGUAGE plpgsql AS $$
	    BEGIN PERFORM pg_sleep(3); RETURN NEW; END $$;
	    CREATE TRIGGER test_slow_refund BEFORE INSERT ON connects_ledger
	    FOR EACH ROW WHEN (NEW.proposal_id = %d AND NEW.entry_type = 'refund') EXECUTE FUNCTION test_slow_refund();`, victim))

	log := newRetryLog(t)
	r := f.reconciler(f.open(f.url, postgres.Timeouts{}), log.Logger,
		reconcile.Options{ApplyBatchSize: 5000, ApplyBatchTime: 300 * time.Millisecond})
	if _, err := r.Run(context.Background(), runID("timed")); err != nil {
		t.Fatalf("run: %v", err)
	}
	f.checkComplete(false)
	sizes, at := f.batchSizes(victim)
	t.Logf("batch sizes %v; the slow statement was in batch %d", sizes, at)
	if at < 0 || at+1 >= len(sizes) {
		t.Fatalf("the slow refund is in batch %d of %d: the test needs a batch after it", at, len(sizes))
	}
	if sizes[0] > 100 {
		t.Errorf("the first batch wrote %d refunds, want at most 100", sizes[0])
	}
	// The slow batch took over 3 s for a 300 ms target: the next one is
	// sized at most a tenth of it, but not below the floor of 10 refunds.
	// (A target of 300 ms, not the default 50, so that on a loaded machine
	// the batches before it are not already at the floor, where no shrink
	// can show.)
	if sizes[at] <= 10 {
		t.Fatalf("the slow refund's batch wrote %d refunds: already at the floor, the test cannot see a shrink (batches %v)", sizes[at], sizes)
	}
	if next := sizes[at+1]; next >= sizes[at] || next > max(10, sizes[at]/5) {
		t.Errorf("the batch after the slow one wrote %d refunds, the slow one %d: want it shrunk at least fivefold (or to 10)", next, sizes[at])
	}
}

// A live transaction holds a balance row the plan must credit: the job does
// not wait on it. The account's refunds are set aside and every other
// refund is written while the row is still held; no statement of the job
// waits on a lock longer than apply_lock_timeout; once the row is released,
// the set-aside refunds are written by the same run. Nothing is lost or
// doubled.
func TestApplyHeldBalanceSetAside(t *testing.T) {
	t.Parallel()
	f := newFaultDB(t, 1500, 60)
	refunds := make([]reconcile.Refund, 0, len(f.want))
	for _, r := range f.want {
		refunds = append(refunds, r)
	}
	sortRefunds(refunds)
	victim := refunds[len(refunds)/3].FreelancerID
	var theirs int
	for _, r := range refunds {
		if r.FreelancerID == victim {
			theirs++
		}
	}

	holder, err := f.db.Beginx()
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	holder.MustExec(`SELECT balance FROM connects_balances WHERE freelancer_id = $1 FOR UPDATE`, victim)

	const timeout = 100 * time.Millisecond
	log := newRetryLog(t)
	// The session's lock_timeout is a minute: only the apply's own bounds it.
	r := f.reconciler(f.open(f.url, postgres.Timeouts{Lock: time.Minute}), log.Logger, reconcile.Options{
		ApplyBatchSize: 20, ApplyBatchTime: 50 * time.Millisecond, ApplyLockTimeout: timeout,
		Retries: 12, RetryBackoff: 100 * time.Millisecond})
	done := make(chan error, 1)
	go func() {
		_, err := r.Run(context.Background(), runID("held"))
		done <- err
	}()

	// Watch the job's backends: none may wait on a lock past the timeout.
	var longestWait time.Duration
	others := len(refunds) - theirs
	deadline := time.Now().Add(time.Minute)
	for {
		var wait float64
		if err := f.db.Get(&wait, `SELECT coalesce(max(extract(epoch FROM clock_timestamp() - query_start)), 0)
		    FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'connects-reconciler' AND wait_event_type = 'Lock'`); err != nil {
			t.Fatal(err)
		}
		longestWait = max(longestWait, time.Duration(wait*float64(time.Second)))
		written := f.jobRefunds()
		if len(written) >= others {
			for _, w := range written {
				if w.FreelancerID == victim {
					t.Errorf("refund %d/%s of the held account was written while its row was held", w.ProposalID, w.Component)
				}
			}
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the run ended (%v) with %d of the %d other refunds written while the row was held", err, len(written), others)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of the %d refunds of other accounts were written while the row was held", len(written), others)
		}
	}
	// Keep holding a little: the set-aside refunds' batches wait, time out
	// and are retried.
	for range 60 {
		var wait float64
		_ = f.db.Get(&wait, `SELECT coalesce(max(extract(epoch FROM clock_timestamp() - query_start)), 0)
		    FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'connects-reconciler' AND wait_event_type = 'Lock'`)
		longestWait = max(longestWait, time.Duration(wait*float64(time.Second)))
		time.Sleep(10 * time.Millisecond)
	}
	if err := holder.Rollback(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the run did not end after the row was released")
	}
	if longestWait > timeout+150*time.Millisecond {
		t.Errorf("a statement of the job waited on a lock for %s, past apply_lock_timeout %s", longestWait, timeout)
	}
	if log.retries() == 0 {
		t.Errorf("the set-aside refunds were written without one lock timeout: the row was not waited for")
	}
	f.checkComplete(false)
	t.Logf("%d refunds of other accounts written while the row was held, %d of the held account after; longest lock wait seen %s, %d retries",
		others, theirs, longestWait.Round(time.Millisecond), log.retries())
}

// With Parallel apply workers, the accounts are split between them by id:
// every apply transaction credits the accounts of one worker only (so two
// workers never contend for a balance row), both workers write, and the run
// writes what one clean run does, each refund once, with the run's counters
// equal to its audit rows.
func TestApplyWorkersOwnDisjointAccounts(t *testing.T) {
	t.Parallel()
	f := newFaultDB(t, 3000, 60)
	log := newRetryLog(t)
	r := f.reconciler(f.open(f.url, postgres.Timeouts{}), log.Logger,
		reconcile.Options{ApplyBatchSize: 20, ApplyLockTimeout: 50 * time.Millisecond, Parallel: 2})
	res, err := r.Run(context.Background(), runID("workers"))
	t.Logf("retries %d", log.retries())
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	f.checkComplete(false)
	issued, err := res.IssuedRefunds()
	if err != nil {
		t.Fatal(err)
	}
	if len(issued) != len(f.want) {
		t.Errorf("the run reports %d refunds written, a clean run writes %d", len(issued), len(f.want))
	}
	var txs []struct {
		Workers pq.Int64Array `db:"workers"`
	}
	f.sel(&txs, `SELECT array_agg(DISTINCT freelancer_id % 2) AS workers
	    FROM connects_ledger WHERE idempotency_key LIKE 'refund:%' GROUP BY xmin::text`)
	seen := map[int64]int{}
	for _, tx := range txs {
		if len(tx.Workers) != 1 {
			t.Fatalf("an apply transaction credited the accounts of both workers")
		}
		seen[tx.Workers[0]]++
	}
	if seen[0] == 0 || seen[1] == 0 {
		t.Errorf("transactions per worker %v: want both workers writing", seen)
	}
	t.Logf("%d refunds in %d transactions, per worker %v", len(issued), len(txs), seen)
}

// One worker's batch fails for good (a trigger raising on one of its
// refunds) while the other's commits: the run fails, reports the refunds
// that did commit, and the next run writes the rest; nothing is lost or
// doubled.
func TestApplyWorkerFailsOtherCommits(t *testing.T) {
	t.Parallel()
	f := newFaultDB(t, 3000, 60)
	refunds := make([]reconcile.Refund, 0, len(f.want))
	for _, r := range f.want {
		refunds = append(refunds, r)
	}
	sortRefunds(refunds)
	victim := refunds[len(refunds)/2]
	f.db.MustExec(fmt.Sprintf(`
	    CREATE FUNCTION test_fail_refund() RETURNS trigger LANGUAGE plpgsql AS $$
	    BEGIN RAISE EXCEPTION 'test: refund refused'; END $$;
	    CREATE TRIGGER test_fail_refund BEFORE INSERT ON connects_ledger
	    FOR EACH ROW WHEN (NEW.proposal_id = %d AND NEW.entry_type = 'refund') EXECUTE FUNCTION test_fail_refund();`, victim.ProposalID))

	o := reconcile.Options{ApplyBatchSize: 25, Parallel: 2}
	r := f.reconciler(f.open(f.url, postgres.Timeouts{}), newRetryLog(t).Logger, o)
	res, err := r.Run(context.Background(), runID("fails"))
	if err == nil {
		t.Fatal("the run succeeded over a refund its trigger refuses")
	}
	issued, ierr := res.IssuedRefunds()
	if ierr != nil {
		t.Fatal(ierr)
	}
	written := f.jobRefunds()
	if len(issued) != len(written) {
		t.Errorf("the failed run reports %d refunds written, the ledger holds %d", len(issued), len(written))
	}
	var past int // refunds written past the failed batch's first refund: the other worker's
	for _, rf := range issued {
		if rf.ProposalID > victim.ProposalID {
			past++
		}
	}
	if past == 0 {
		t.Errorf("no refund past the failed one was written: the other worker's batch did not commit")
	}
	f.checkInvariants()
	f.db.MustExec(`DROP TRIGGER test_fail_refund ON connects_ledger`)
	if _, err := f.reconciler(f.open(f.url, postgres.Timeouts{}), newRetryLog(t).Logger, o).Run(context.Background(), runID("after")); err != nil {
		t.Fatalf("the next run: %v", err)
	}
	f.checkComplete(false)
	t.Logf("the failed run wrote %d of %d refunds (%d past the refused one)", len(issued), len(f.want), past)
}
