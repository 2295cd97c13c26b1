package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/connects/connects-reconciler/reconcile"
)

var (
	h    = time.Hour
	min1 = time.Minute
)

// TestPolicyRules runs the rule cases of testdata/policy, one file each
// (the format is in testdata/policy/README.md): it builds the file's
// marketplace, runs the job once with the contract's policy and the file's
// settings, and compares the refunds in the ledger, the rule that issued
// each refund the run wrote, the discrepancies and the pending count with
// the file's want lines. Balances must equal ledger sums unless a
// missing_balance is expected, and a second run must add nothing.
func TestPolicyRules(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/policy/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no cases in testdata/policy (%v)", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			t.Parallel()
			tc, err := parsePolicyCase(file)
			if err != nil {
				t.Fatal(err)
			}
			m := newMarket(t)
			for _, step := range tc.build {
				step(m)
			}
			r := m.reconciler(tc.policy)
			res, err := r.Run(context.Background(), "test-run")
			if err != nil {
				t.Fatalf("%s: run: %v", file, err)
			}
			if res.Status != reconcile.StatusSucceeded {
				t.Fatalf("%s: status: got %s, want succeeded", file, res.Status)
			}
			if diffs := tc.differences(m, res); len(diffs) > 0 {
				t.Errorf("the run differs from the file:\n%s", strings.Join(diffs, "\n"))
			}
			if !tc.expects(reconcile.MissingBalance) {
				m.checkBalances()
			}

			// A second run adds nothing.
			again, err := m.reconciler(tc.policy).Run(context.Background(), "test-run-2")
			if err != nil {
				t.Fatalf("%s: second run: %v", file, err)
			}
			if len(issuedOf(t, again)) != 0 || len(refundsOf(t, again.Plan)) != 0 {
				t.Errorf("%s: second run: planned %d, wrote %d; want nothing", file, len(refundsOf(t, again.Plan)), len(issuedOf(t, again)))
			}
		})
	}
}

// A plan made, then the job reopened before the batch is written: the batch
// re-evaluates the policy and skips the refund.
func TestApplySkipsRefundsNoLongerOwed(t *testing.T) {
	t.Parallel()
	m := newMarket(t)
	m.job(1, "closed", "no_hire", ago(2*h))
	m.proposal(10, 1, 100, nil)
	m.fee(100, 10, "base", 4)
	m.proposal(11, 1, 101, nil)
	m.fee(101, 11, "base", 4)
	m.job(2, "closed", "no_hire", ago(2*h))
	m.proposal(20, 2, 102, nil)
	m.fee(102, 20, "base", 4)

	r := m.reconciler(reconcile.DefaultPolicy())
	plan, err := r.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(refundsOf(t, plan)) != 3 {
		t.Fatalf("planned %d refunds, want 3", len(refundsOf(t, plan)))
	}
	// Meanwhile: job 1 reopened; proposal 20 refunded online.
	m.exec(`UPDATE jobs SET status = 'open', close_reason = NULL, closed_at = NULL WHERE id = 1`)
	m.entry(102, 4, "refund", 20, "base", "online:20:base")

	store := r.Store
	m.exec(`INSERT INTO reconciler_runs (id, mode, scope, status, as_of, settle_cutoff, policy)
	        VALUES ('manual', 'run', 'full', 'running', now(), now(), '{}')`)
	written, err := store.Apply(context.Background(), "manual", plan.Policy, plan.SettleCutoff, batchOf(t, plan), reconcile.ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != 0 {
		t.Errorf("wrote %v; want nothing", written)
	}
	if got, want := m.refunds(), map[string]string{"20/base": "4@102"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ledger refunds: got %v, want %v", got, want)
	}
	m.checkBalances()
}

// The limits refuse the whole plan: nothing is written and the run is
// recorded as refused.
func TestLimitsRefuseTheRun(t *testing.T) {
	t.Parallel()
	m := newMarket(t)
	m.job(1, "closed", "no_hire", ago(2*h))
	for i := int64(0); i < 5; i++ {
		m.proposal(10+i, 1, 100+i, nil)
		m.fee(100+i, 10+i, "base", 4)
	}
	for _, lim := range []reconcile.Limits{{MaxRefunds: 4}, {MaxConnects: 19}} {
		r := m.reconciler(reconcile.DefaultPolicy())
		r.Limits = lim
		id := fmt.Sprintf("limited-%d-%d", lim.MaxRefunds, lim.MaxConnects)
		res, err := r.Run(context.Background(), id)
		var limitErr *reconcile.LimitError
		if !errors.As(err, &limitErr) {
			t.Fatalf("limits %+v: got error %v, want a LimitError", lim, err)
		}
		if res == nil || res.Status != reconcile.StatusRefused {
			t.Fatalf("limits %+v: got result %+v, want status refused", lim, res)
		}
		if got := m.refunds(); len(got) != 0 {
			t.Errorf("limits %+v: ledger has refunds %v; want none", lim, got)
		}
		var status string
		if err := m.db.Get(&status, `SELECT status FROM reconciler_runs WHERE id = $1`, id); err != nil || status != "refused" {
			t.Errorf("limits %+v: run record status %q (%v), want refused", lim, status, err)
		}
	}
	r := m.reconciler(reconcile.DefaultPolicy())
	r.Limits = reconcile.Limits{MaxRefunds: 5, MaxConnects: 20}
	if _, err := r.Run(context.Background(), "at-the-limit"); err != nil {
		t.Fatalf("a plan at the limits must pass: %v", err)
	}
	if got := len(m.refunds()); got != 5 {
		t.Errorf("wrote %d refunds, want 5", got)
	}
}
