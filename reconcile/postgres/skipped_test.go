package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/connects/connects-reconciler/reconcile"
	"github.com/connects/connects-reconciler/reconcile/prometheus"
)

// TestSkippedRefundsNoLongerOwedAreNotOverdue: refunds planned by a sweep
// and skipped as their batch was written count towards the oldest owed
// refund (connects_reconciler_oldest_owed_refund_age_seconds, which the full
// sweep's group holds for a day) only while the policy still owes them: a
// job reopened mid-sweep owes nothing, and must not page RefundsOverdue
// until the next sweep; a fee raised mid-sweep changes the amount, and the
// refund, still owed and not written, counts.
func TestSkippedRefundsNoLongerOwedAreNotOverdue(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		meanwhile  func(m *market)
		wantOldest *time.Duration // the close still owed, nil: nothing owed
	}{
		{"job reopened", func(m *market) {
			m.exec(`UPDATE jobs SET status = 'open', close_reason = NULL, closed_at = NULL WHERE id = 2`)
		}, nil},
		{"job reopened and closed hired", func(m *market) { m.exec(`UPDATE jobs SET close_reason = 'hired' WHERE id = 2`) }, nil},
		{"fee raised", func(m *market) { m.fee(102, 20, "base", 3) }, ago(3 * h)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := newMarket(t)
			m.job(1, "closed", "no_hire", ago(2*h))
			m.proposal(10, 1, 100, nil)
			m.fee(100, 10, "base", 4)
			m.job(2, "closed", "no_hire", ago(3*h))
			m.proposal(20, 2, 102, nil)
			m.fee(102, 20, "base", 4)
			m.proposal(21, 2, 103, nil)
			m.fee(103, 21, "base", 4)

			r := m.reconciler(reconcile.DefaultPolicy())
			plan, err := r.Plan(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if n := len(refundsOf(t, plan)); n != 3 {
				t.Fatalf("planned %d refunds, want 3", n)
			}
			tc.meanwhile(m)
			res, err := r.RunPlan(context.Background(), "sweep", plan)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Close()
			if got := res.SkippedCount(); got < 1 {
				t.Fatalf("skipped %d refunds, want job 2's", got)
			}
			oldest, err := res.OldestOwed()
			if err != nil {
				t.Fatal(err)
			}
			want := m.at(tc.wantOldest)
			if (oldest == nil) != (want == nil) || oldest != nil && !oldest.Equal(*want) {
				t.Errorf("oldest owed after the sweep: got %v, want %v", oldest, want)
			}
			age := prometheus.OldestOwedAge(res, time.Second)
			if tc.wantOldest == nil && age != 0 {
				t.Errorf("oldest_owed_refund_age_seconds: got %s, want 0 (nothing is owed)", age)
			}
			if tc.wantOldest != nil && age < 3*h {
				t.Errorf("oldest_owed_refund_age_seconds: got %s, want over 3h (the refund is still owed)", age)
			}
			m.checkBalances()
		})
	}
}
