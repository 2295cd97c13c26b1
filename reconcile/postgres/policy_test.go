package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/connects/connects-reconciler/reconcile"
)

var (
	h    = time.Hour
	min1 = time.Minute
)

// Each case builds a marketplace, runs the job once with the contract's
// policy (or a variant), and compares the refunds in the ledger, the rule
// that issued each, and the discrepancies found.
func TestPolicyRules(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		policy func(*reconcile.Policy)
		build  func(m *market)
		// want is the ledger's refunds after the run: "proposal/component" ->
		// "amount@account", including refunds that were there before.
		want map[string]string
		// rules says which rule issued each refund the run wrote.
		rules map[string]reconcile.Rule
		// discrepancies are "proposal/component kind", then " rule=R" when
		// a rule is named and " to=A" for the account a wrong_account
		// refund credited.
		discrepancies []string
		pending       int64
	}{
		{
			name: "tos_removed refunds base and boost",
			build: func(m *market) {
				m.job(1, "removed", "tos_violation", ago(2*h))
				m.proposal(10, 1, 100, nil)
				m.fee(100, 10, "base", 6)
				m.fee(100, 10, "boost", 12)
			},
			want:  map[string]string{"10/base": "6@100", "10/boost": "12@100"},
			rules: map[string]reconcile.Rule{"10/base": reconcile.RuleTOSRemoved, "10/boost": reconcile.RuleTOSRemoved},
		},
		{
			name: "tos_removed skips proposals withdrawn before the removal, not after",
			build: func(m *market) {
				m.job(1, "removed", "tos_violation", ago(2*h))
				m.proposal(10, 1, 100, ago(3*h)) // withdrawn before
				m.fee(100, 10, "base", 6)
				m.proposal(11, 1, 101, ago(1*h)) // withdrawn after
				m.fee(101, 11, "base", 6)
			},
			want:  map[string]string{"11/base": "6@101"},
			rules: map[string]reconcile.Rule{"11/base": reconcile.RuleTOSRemoved},
		},
		{
			name: "closed_without_hire refunds base and an untouched boost",
			build: func(m *market) {
				m.job(1, "closed", "no_hire", ago(2*h))
				m.proposal(10, 1, 100, nil)
				m.fee(100, 10, "base", 4)
				m.fee(100, 10, "boost", 9)
			},
			want:  map[string]string{"10/base": "4@100", "10/boost": "9@100"},
			rules: map[string]reconcile.Rule{"10/base": reconcile.RuleClosedWithoutHire, "10/boost": reconcile.RuleClosedWithoutHire},
		},
		{
			name: "closed_without_hire keeps the boost after an eligible interaction before the close",
			build: func(m *market) {
				m.job(1, "closed", "no_hire", ago(2*h))
				m.proposal(10, 1, 100, nil)
				m.fee(100, 10, "base", 4)
				m.fee(100, 10, "boost", 9)
				m.touch(10, "opened", ago(3*h))
			},
			want:  map[string]string{"10/base": "4@100"},
			rules: map[string]reconcile.Rule{"10/base": reconcile.RuleClosedWithoutHire},
		},
		{
			name: "interactions that are not eligible, or after the close, do not count",
			build: func(m *market) {
				m.job(1, "closed", "no_hire", ago(2*h))
				m.proposal(10, 1, 100, nil)
				m.fee(100, 10, "base", 4)
				m.fee(100, 10, "boost", 9)
				m.touch(10, "impression", ago(3*h))
				m.touch(10, "messaged", ago(1*h))
			},
			want:  map[string]string{"10/base": "4@100", "10/boost": "9@100"},
			rules: map[string]reconcile.Rule{"10/base": reconcile.RuleClosedWithoutHire, "10/boost": reconcile.RuleClosedWithoutHire},
		},
		{
			name: "closed_without_hire skips declined and withdrawn proposals",
			build: func(m *market) {
				m.job(1, "closed", "no_hire", ago(2*h))
				m.proposal(10, 1, 100, nil)
				m.fee(100, 10, "base", 4)
				m.touch(10, "declined", ago(3*h))
				m.proposal(11, 1, 101, ago(5*h))
				m.fee(101, 11, "base", 4)
				m.proposal(12, 1, 102, nil)
				m.fee(102, 12, "base", 4)
				m.touch(12, "declined", ago(1*h)) // after the close: still refunded
			},
			want:  map[string]string{"12/base": "4@102"},
			rules: map[string]reconcile.Rule{"12/base": reconcile.RuleClosedWithoutHire},
		},
		{
			name:   "refund_declined policy refunds a proposal declined before the close",
			policy: func(p *reconcile.Policy) { p.RefundDeclined = true },
			build: func(m *market) {
				m.job(1, "closed", "no_hire", ago(2*h))
				m.proposal(10, 1, 100, nil)
				m.fee(100, 10, "base", 4)
				m.fee(100, 10, "boost", 3)
				m.touch(10, "declined", ago(3*h))
			},
			want:  map[string]string{"10/base": "4@100"},
			rules: map[string]reconcile.Rule{"10/base": reconcile.RuleClosedWithoutHire},
		},
		{
			name:   "closed_without_hire_boost off keeps the boost",
			policy: func(p *reconcile.Policy) { p.ClosedWithoutHireBoost = false },
			build: func(m *market) {
				m.job(1, "closed", "no_hire", ago(2*h))
				m.proposal(10, 1, 100, nil)
				m.fee(100, 10, "base", 4)
				m.fee(100, 10, "boost", 3)
			},
			want:  map[string]string{"10/base": "4@100"},
			rules: map[string]reconcile.Rule{"10/base": reconcile.RuleClosedWithoutHire},
		},
		{
			name: "hired, expired, inactivity and open jobs owe nothing",
			build: func(m *market) {
				for i, reason := range []string{"hired", "expired", "inactivity"} {
					id := int64(i + 1)
					m.job(id, "closed", reason, ago(2*h))
					m.proposal(id*10, id, 100+id, nil)
					m.fee(100+id, id*10, "base", 4)
					m.fee(100+id, id*10, "boost", 4)
				}
				m.job(9, "open", "", nil)
				m.proposal(90, 9, 109, nil)
				m.fee(109, 90, "base", 4)
			},
			want: map[string]string{},
		},
		{
			name: "boost_outbid refunds the boost of an ended auction, whatever the job's status",
			build: func(m *market) {
				m.job(1, "open", "", nil)
				m.auction(1, ago(2*h))
				m.proposal(10, 1, 100, nil)
				m.fee(100, 10, "base", 4)
				m.fee(100, 10, "boost", 7)
				m.bid(10, "outbid", ago(3*h))
			},
			want:  map[string]string{"10/boost": "7@100"},
			rules: map[string]reconcile.Rule{"10/boost": reconcile.RuleBoostOutbid},
		},
		{
			name: "raised bids add up",
			build: func(m *market) {
				m.job(1, "closed", "hired", ago(1*h))
				m.auction(1, ago(2*h))
				m.proposal(10, 1, 100, nil)
				m.fee(100, 10, "base", 4)
				m.fee(100, 10, "boost", 5)
				m.fee(100, 10, "boost", 8)
				m.bid(10, "outbid", ago(3*h))
			},
			want:  map[string]string{"10/boost": "13@100"},
			rules: map[string]reconcile.Rule{"10/boost": reconcile.RuleBoostOutbid},
		},
		{
			name: "an eligible interaction at the knock-out instant keeps the boost; one after does not",
			build: func(m *market) {
				m.job(1, "open", "", nil)
				m.auction(1, ago(1*h))
				m.proposal(10, 1, 100, nil)
				m.fee(100, 10, "boost", 7)
				m.bid(10, "outbid", ago(3*h))
				m.touch(10, "shortlisted", ago(3*h)) // same instant
				m.proposal(11, 1, 101, nil)
				m.fee(101, 11, "boost", 7)
				m.bid(11, "outbid", ago(3*h))
				m.touch(11, "shortlisted", ago(2*h)) // after
				m.proposal(12, 1, 102, nil)
				m.fee(102, 12, "boost", 7)
				m.bid(12, "outbid", ago(3*h))
				m.touch(12, "impression", ago(4*h)) // before, but not eligible
			},
			want:  map[string]string{"11/boost": "7@101", "12/boost": "7@102"},
			rules: map[string]reconcile.Rule{"11/boost": reconcile.RuleBoostOutbid, "12/boost": reconcile.RuleBoostOutbid},
		},
		{
			name: "running auctions, won bids and placebo auctions owe nothing",
			build: func(m *market) {
				m.job(1, "open", "", nil)
				m.auction(1, nil) // still running
				m.proposal(10, 1, 100, nil)
				m.fee(100, 10, "boost", 7)
				m.bid(10, "outbid", ago(3*h))
				m.job(2, "open", "", nil)
				m.auction(2, ago(1*h))
				m.proposal(20, 2, 100, nil)
				m.fee(100, 20, "boost", 7)
				m.bid(20, "won", nil)
				m.proposal(21, 2, 101, nil) // placebo: outbid, nothing charged
				m.bid(21, "outbid", ago(2*h))
			},
			want: map[string]string{},
		},
		{
			name: "an invitation with no fee owes nothing",
			build: func(m *market) {
				m.job(1, "closed", "no_hire", ago(2*h))
				m.proposal(10, 1, 100, nil)
			},
			want: map[string]string{},
		},
		{
			name: "a refund written online under another key counts; grants and adjustments do not",
			build: func(m *market) {
				m.job(1, "closed", "no_hire", ago(2*h))
				m.proposal(10, 1, 100, nil)
				m.fee(100, 10, "base", 4)
				m.fee(100, 10, "boost", 6)
				m.entry(100, 4, "refund", 10, "base", "online:whatever")
				m.entry(100, 6, "grant", 10, "boost", "")
				m.entry(100, 6, "adjustment", 10, "boost", "")
			},
			want:  map[string]string{"10/base": "4@100", "10/boost": "6@100"},
			rules: map[string]reconcile.Rule{"10/boost": reconcile.RuleClosedWithoutHire},
		},
		{
			name: "events inside the settle delay wait",
			build: func(m *market) {
				m.job(1, "closed", "no_hire", ago(5*min1))
				m.proposal(10, 1, 100, nil)
				m.fee(100, 10, "base", 4)
				m.job(2, "open", "", nil)
				m.auction(2, ago(1*min1))
				m.proposal(20, 2, 101, nil)
				m.fee(101, 20, "boost", 4)
				m.bid(20, "outbid", ago(2*min1))
			},
			want:    map[string]string{},
			pending: 2,
		},
		{
			name:   "a zero settle delay reconciles at once",
			policy: func(p *reconcile.Policy) { p.SettleDelay = 0 },
			build: func(m *market) {
				m.job(1, "closed", "no_hire", ago(5*min1))
				m.proposal(10, 1, 100, nil)
				m.fee(100, 10, "base", 4)
			},
			want:  map[string]string{"10/base": "4@100"},
			rules: map[string]reconcile.Rule{"10/base": reconcile.RuleClosedWithoutHire},
		},
		{
			name: "a refund on a reopened job is reported, never reversed",
			build: func(m *market) {
				m.job(1, "open", "", nil) // closed no_hire, refunded online, then reopened
				m.proposal(10, 1, 100, nil)
				m.fee(100, 10, "base", 4)
				m.entry(100, 4, "refund", 10, "base", "online:10:base")
			},
			want:          map[string]string{"10/base": "4@100"},
			discrepancies: []string{"10/base unexpected_refund"},
		},
		{
			name: "a refund of the wrong amount is reported, never edited",
			build: func(m *market) {
				m.job(1, "closed", "no_hire", ago(2*h))
				m.proposal(10, 1, 100, nil)
				m.fee(100, 10, "base", 4)
				m.entry(100, 3, "refund", 10, "base", "online:10:base")
			},
			want:          map[string]string{"10/base": "3@100"},
			discrepancies: []string{"10/base amount_mismatch rule=closed_without_hire"},
		},
		{
			name: "precedence: a removed job's outbid boost is refunded as tos_removed",
			build: func(m *market) {
				m.job(1, "removed", "tos_violation", ago(1*h))
				m.auction(1, ago(2*h))
				m.proposal(10, 1, 100, nil)
				m.fee(100, 10, "boost", 7)
				m.bid(10, "outbid", ago(3*h))
			},
			want:  map[string]string{"10/boost": "7@100"},
			rules: map[string]reconcile.Rule{"10/boost": reconcile.RuleTOSRemoved},
		},
		{
			name: "a boost touched before the close but outbid before the touch falls to boost_outbid",
			build: func(m *market) {
				m.job(1, "closed", "no_hire", ago(1*h))
				m.auction(1, ago(1*h))
				m.proposal(10, 1, 100, nil)
				m.fee(100, 10, "base", 4)
				m.fee(100, 10, "boost", 7)
				m.bid(10, "outbid", ago(5*h))
				m.touch(10, "opened", ago(3*h))
			},
			want:  map[string]string{"10/base": "4@100", "10/boost": "7@100"},
			rules: map[string]reconcile.Rule{"10/base": reconcile.RuleClosedWithoutHire, "10/boost": reconcile.RuleBoostOutbid},
		},
		{
			name: "the refund goes to the account that was charged",
			build: func(m *market) {
				m.job(1, "closed", "no_hire", ago(2*h))
				m.proposal(10, 1, 100, nil)
				m.fee(555, 10, "base", 4) // an agency account paid
			},
			want:  map[string]string{"10/base": "4@555"},
			rules: map[string]reconcile.Rule{"10/base": reconcile.RuleClosedWithoutHire},
		},
		{
			name: "an account with no balance row is reported, not credited",
			build: func(m *market) {
				m.job(1, "closed", "no_hire", ago(2*h))
				m.proposal(10, 1, 100, nil)
				m.fee(100, 10, "base", 4)
				m.exec(`DELETE FROM connects_balances WHERE freelancer_id = 100`)
			},
			want:          map[string]string{},
			discrepancies: []string{"10/base missing_balance rule=closed_without_hire"},
		},
		{
			name: "a refund credited to another account than the one charged is reported, not counted as paid",
			build: func(m *market) {
				m.job(1, "closed", "no_hire", ago(2*h))
				m.proposal(10, 1, 36, nil)
				m.fee(36, 10, "base", 14)
				m.entry(1, 14, "refund", 10, "base", "online:10:base") // to freelancer 1, not 36
			},
			want:          map[string]string{"10/base": "14@1"},
			discrepancies: []string{"10/base wrong_account rule=closed_without_hire to=1"},
		},
		{
			name: "wrong_account takes precedence over amount_mismatch",
			build: func(m *market) {
				m.job(1, "closed", "no_hire", ago(2*h))
				m.proposal(10, 1, 36, nil)
				m.fee(36, 10, "base", 14)
				m.entry(1, 9, "refund", 10, "base", "online:10:base")
			},
			want:          map[string]string{"10/base": "9@1"},
			discrepancies: []string{"10/base wrong_account rule=closed_without_hire to=1"},
		},
		{
			name: "unexpected_refund takes precedence over wrong_account; no rule is named for a never-charged component",
			build: func(m *market) {
				m.job(1, "closed", "no_hire", ago(2*h))
				m.proposal(10, 1, 36, nil)
				m.fee(36, 10, "base", 4)
				m.entry(1, 5, "refund", 10, "boost", "online:10:boost") // the boost was never charged
			},
			want:          map[string]string{"10/base": "4@36", "10/boost": "5@1"},
			rules:         map[string]reconcile.Rule{"10/base": reconcile.RuleClosedWithoutHire},
			discrepancies: []string{"10/boost unexpected_refund"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := newMarket(t)
			tc.build(m)
			p := reconcile.DefaultPolicy()
			if tc.policy != nil {
				tc.policy(&p)
			}
			r := m.reconciler(p)
			res, err := r.Run(context.Background(), "test-run")
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			if res.Status != reconcile.StatusSucceeded {
				t.Fatalf("status: got %s, want succeeded", res.Status)
			}
			if got := m.refunds(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ledger refunds:\n got %v\nwant %v", got, tc.want)
			}
			gotRules := map[string]reconcile.Rule{}
			for _, f := range issuedOf(t, res) {
				gotRules[fmt.Sprintf("%d/%s", f.ProposalID, f.Component)] = f.Rule
			}
			if tc.rules == nil {
				tc.rules = map[string]reconcile.Rule{}
			}
			if !reflect.DeepEqual(gotRules, tc.rules) {
				t.Errorf("rules of refunds written:\n got %v\nwant %v", gotRules, tc.rules)
			}
			var gotDisc []string
			for _, d := range discrepanciesOf(t, res.Plan) {
				text := fmt.Sprintf("%d/%s %s", d.ProposalID, d.Component, d.Kind)
				if d.Rule != "" {
					text += " rule=" + string(d.Rule)
				}
				if d.RefundedTo != 0 {
					text += fmt.Sprintf(" to=%d", d.RefundedTo)
				}
				gotDisc = append(gotDisc, text)
			}
			sort.Strings(gotDisc)
			if !reflect.DeepEqual(gotDisc, tc.discrepancies) {
				t.Errorf("discrepancies:\n got %v\nwant %v", gotDisc, tc.discrepancies)
			}
			if res.Plan.Totals().Pending != tc.pending {
				t.Errorf("pending: got %d, want %d", res.Plan.Totals().Pending, tc.pending)
			}
			if tc.discrepancies == nil || !containsKind(tc.discrepancies, "missing_balance") {
				m.checkBalances()
			}

			// A second run adds nothing.
			again, err := m.reconciler(p).Run(context.Background(), "test-run-2")
			if err != nil {
				t.Fatalf("second run: %v", err)
			}
			if len(issuedOf(t, again)) != 0 || len(refundsOf(t, again.Plan)) != 0 {
				t.Errorf("second run: planned %d, wrote %d; want nothing", len(refundsOf(t, again.Plan)), len(issuedOf(t, again)))
			}
		})
	}
}

func containsKind(list []string, kind string) bool {
	for _, s := range list {
		if f := strings.Fields(s); len(f) > 1 && f[1] == kind {
			return true
		}
	}
	return false
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
	written, err := store.Apply(context.Background(), "manual", plan.Policy, plan.SettleCutoff, refundsOf(t, plan))
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
