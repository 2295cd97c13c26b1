package main

import (
	"strings"
	"testing"
	"time"
)

// A live transaction holds the balance row of an account the run must
// credit, as the marketplace's own path does: the run writes the other
// account's refund while the row is held, no statement of the job waits on
// a lock longer than --apply-lock-timeout, and once the row is released the
// same run writes the held account's refunds and exits 0. Nothing is lost or
// doubled.
func TestHeldBalanceNeitherWaitedOnNorLost(t *testing.T) {
	t.Parallel()
	url, db := smallMarket(t)
	// A second account owed a refund on the closed job.
	db.MustExec(`
	INSERT INTO proposals (id, job_id, freelancer_id, submitted_at) VALUES (12, 1, 103, now() - interval '1 day');
	INSERT INTO connects_ledger (freelancer_id, amount, entry_type, proposal_id, component, idempotency_key) VALUES
	    (103, 50, 'purchase', NULL, NULL, 'p103'), (103, -4, 'proposal_fee', 12, 'base', 'f12');
	INSERT INTO connects_balances (freelancer_id, balance) VALUES (103, 46);`)
	env := map[string]string{"DATABASE_URL": url}
	holder := db.MustBegin()
	defer holder.Rollback()
	holder.MustExec(`SELECT balance FROM connects_balances WHERE freelancer_id = 100 FOR UPDATE`)

	type result struct {
		code   int
		stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, _, stderr := invoke(t, env, "run", "--apply-lock-timeout", "100ms", "--lock-timeout", "1m",
			"--retries", "10", "--retry-backoff", "200ms", "--format", "json")
		done <- result{code, stderr}
	}()

	var longest float64
	sample := func() {
		var wait float64
		if err := db.Get(&wait, `SELECT coalesce(max(extract(epoch FROM clock_timestamp() - query_start)), 0)
		    FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'connects-reconciler' AND wait_event_type = 'Lock'`); err != nil {
			t.Error(err)
		}
		longest = max(longest, wait)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		sample()
		var other, held int
		_ = db.Get(&other, `SELECT count(*) FROM connects_ledger WHERE idempotency_key = 'refund:12:base'`)
		_ = db.Get(&held, `SELECT count(*) FROM connects_ledger WHERE idempotency_key LIKE 'refund:%' AND freelancer_id = 100`)
		if held > 0 {
			t.Fatal("a refund of the held account was written while its balance row was held")
		}
		if other == 1 {
			break
		}
		select {
		case r := <-done:
			t.Fatalf("the run ended (exit %d) before writing the other account's refund while the row was held:\n%s", r.code, r.stderr)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the other account's refund was not written while the row was held")
		}
	}
	// Hold on a while: the held account's batch waits, times out, retries.
	for range 50 {
		sample()
		time.Sleep(10 * time.Millisecond)
	}
	holder.Rollback()
	var r result
	select {
	case r = <-done:
	case <-time.After(time.Minute):
		t.Fatal("the run did not end after the row was released")
	}
	if r.code != exitOK {
		t.Fatalf("exit %d, want 0 once the row was released:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "set aside") {
		t.Errorf("the log does not say refunds were set aside:\n%s", r.stderr)
	}
	if longest > 0.25 {
		t.Errorf("a statement of the job waited %.3fs on a lock, past --apply-lock-timeout 100ms", longest)
	}
	var n int
	_ = db.Get(&n, `SELECT count(*) FROM connects_ledger WHERE idempotency_key LIKE 'refund:%'`)
	if n != 4 {
		t.Errorf("%d refunds written, want 4", n)
	}
	checkLedger(t, db, "after the run")
	t.Logf("longest lock wait of the job seen: %.3fs", longest)
}
