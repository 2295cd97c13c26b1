package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/connects/connects-reconciler/reconcile"
	"github.com/connects/connects-reconciler/reconcile/postgres"
)

// want is what explain must say about one component.
type want struct {
	owed   bool
	reason string
	status reconcile.State
	why    string // a fragment of the wording
}

// Each case builds one proposal (id 10, account 100) and checks what explain
// says for each component; every exclusion reason has a case. The verdict is
// also checked against the job's own plan, so explain and run cannot drift.
func TestExplainReasons(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		policy func(*reconcile.Policy)
		build  func(m *market, j, p int64)
		want   map[reconcile.Component]want
	}{
		{
			name: "closed without hire: base and boost owed, missing",
			build: func(m *market, j, p int64) {
				m.job(j, "closed", "no_hire", ago(2*h))
				m.proposal(p, j, 100, nil)
				m.fee(100, p, "base", 4)
				m.fee(100, p, "boost", 9)
			},
			want: map[reconcile.Component]want{
				reconcile.Base:  {true, "closed_without_hire", reconcile.MissingRefund, "closed without a hire"},
				reconcile.Boost: {true, "closed_without_hire", reconcile.MissingRefund, "boost is refunded too"},
			},
		},
		{
			name: "withdrawn before the close",
			build: func(m *market, j, p int64) {
				m.job(j, "closed", "no_hire", ago(2*h))
				m.proposal(p, j, 100, ago(3*h))
				m.fee(100, p, "base", 4)
			},
			want: map[reconcile.Component]want{
				reconcile.Base:  {false, reconcile.ReasonWithdrawn, reconcile.NotOwed, "withdrawn at"},
				reconcile.Boost: {false, reconcile.ReasonNothingCharged, reconcile.NotOwed, "no boost fee"},
			},
		},
		{
			name: "withdrawn before a ToS removal",
			build: func(m *market, j, p int64) {
				m.job(j, "removed", "tos_violation", ago(2*h))
				m.proposal(p, j, 100, ago(3*h))
				m.fee(100, p, "base", 4)
			},
			want: map[reconcile.Component]want{reconcile.Base: {false, reconcile.ReasonWithdrawn, reconcile.NotOwed, "before the job was removed"}},
		},
		{
			name: "declined before the close",
			build: func(m *market, j, p int64) {
				m.job(j, "closed", "no_hire", ago(2*h))
				m.proposal(p, j, 100, nil)
				m.fee(100, p, "base", 4)
				m.touch(p, "declined", ago(3*h))
			},
			want: map[reconcile.Component]want{reconcile.Base: {false, reconcile.ReasonDeclined, reconcile.NotOwed, "declined the proposal at"}},
		},
		{
			name: "hired; the boost won",
			build: func(m *market, j, p int64) {
				m.job(j, "closed", "hired", ago(2*h))
				m.proposal(p, j, 100, nil)
				m.fee(100, p, "base", 4)
				m.fee(100, p, "boost", 9)
				m.auction(j, ago(2*h))
				m.bid(p, "won", nil)
			},
			want: map[reconcile.Component]want{
				reconcile.Base:  {false, reconcile.ReasonHired, reconcile.NotOwed, "closed with a hire"},
				reconcile.Boost: {false, reconcile.ReasonBidWon, reconcile.NotOwed, "won its auction"},
			},
		},
		{
			name: "expired",
			build: func(m *market, j, p int64) {
				m.job(j, "closed", "expired", ago(2*h))
				m.proposal(p, j, 100, nil)
				m.fee(100, p, "base", 4)
			},
			want: map[reconcile.Component]want{reconcile.Base: {false, reconcile.ReasonExpired, reconcile.NotOwed, "expired"}},
		},
		{
			name: "inactivity",
			build: func(m *market, j, p int64) {
				m.job(j, "closed", "inactivity", ago(2*h))
				m.proposal(p, j, 100, nil)
				m.fee(100, p, "base", 4)
			},
			want: map[reconcile.Component]want{reconcile.Base: {false, reconcile.ReasonInactivity, reconcile.NotOwed, "inactivity"}},
		},
		{
			name: "open job; auction still running",
			build: func(m *market, j, p int64) {
				m.job(j, "open", "", nil)
				m.proposal(p, j, 100, nil)
				m.fee(100, p, "base", 4)
				m.fee(100, p, "boost", 9)
				m.auction(j, nil)
				m.bid(p, "outbid", ago(h))
			},
			want: map[reconcile.Component]want{
				reconcile.Base:  {false, reconcile.ReasonOpenJob, reconcile.NotOwed, "the job is open"},
				reconcile.Boost: {false, reconcile.ReasonAuctionRunning, reconcile.NotOwed, "still running"},
			},
		},
		{
			name: "outbid after an interaction (knock-out)",
			build: func(m *market, j, p int64) {
				m.job(j, "closed", "hired", ago(h))
				m.proposal(p, j, 100, nil)
				m.fee(100, p, "boost", 9)
				m.auction(j, ago(2*h))
				m.bid(p, "outbid", ago(3*h))
				m.touch(p, "impression", ago(5*h)) // counts for nothing
				m.touch(p, "opened", ago(3*h))     // exactly at the knock-out
			},
			want: map[reconcile.Component]want{reconcile.Boost: {false, reconcile.ReasonInteractionBeforeKO, reconcile.NotOwed, "(opened) at the same moment as the boost was outbid"}},
		},
		{
			name: "outbid before any interaction on a hired job",
			build: func(m *market, j, p int64) {
				m.job(j, "closed", "hired", ago(h))
				m.proposal(p, j, 100, nil)
				m.fee(100, p, "boost", 9)
				m.auction(j, ago(2*h))
				m.bid(p, "outbid", ago(3*h))
				m.touch(p, "opened", ago(150*min1))
			},
			want: map[reconcile.Component]want{reconcile.Boost: {true, "boost_outbid", reconcile.MissingRefund, "outbid at"}},
		},
		{
			name: "interaction before a close without hire keeps the boost",
			build: func(m *market, j, p int64) {
				m.job(j, "closed", "no_hire", ago(2*h))
				m.proposal(p, j, 100, nil)
				m.fee(100, p, "base", 4)
				m.fee(100, p, "boost", 9)
				m.touch(p, "messaged", ago(3*h))
			},
			want: map[reconcile.Component]want{
				reconcile.Base:  {true, "closed_without_hire", reconcile.MissingRefund, ""},
				reconcile.Boost: {false, reconcile.ReasonInteractionBeforeEnd, reconcile.NotOwed, "(messaged) at "},
			},
		},
		{
			name: "an invitation: nothing charged",
			build: func(m *market, j, p int64) {
				m.job(j, "closed", "no_hire", ago(2*h))
				m.proposal(p, j, 100, nil)
			},
			want: map[reconcile.Component]want{
				reconcile.Base:  {false, reconcile.ReasonNothingCharged, reconcile.NotOwed, "invitation"},
				reconcile.Boost: {false, reconcile.ReasonNothingCharged, reconcile.NotOwed, ""},
			},
		},
		{
			name: "inside the settle delay",
			build: func(m *market, j, p int64) {
				m.job(j, "removed", "tos_violation", ago(5*min1))
				m.proposal(p, j, 100, nil)
				m.fee(100, p, "base", 4)
			},
			want: map[reconcile.Component]want{reconcile.Base: {true, "tos_removed", reconcile.PendingRefund, "settle delay"}},
		},
		{
			name: "refunded online",
			build: func(m *market, j, p int64) {
				m.job(j, "closed", "no_hire", ago(2*h))
				m.proposal(p, j, 100, nil)
				m.fee(100, p, "base", 4)
				m.entry(100, 4, "refund", p, "base", fmt.Sprintf("online:%d:base", p))
			},
			want: map[reconcile.Component]want{reconcile.Base: {true, "closed_without_hire", reconcile.Refunded, ""}},
		},
		{
			name: "refunded although hired: unexpected",
			build: func(m *market, j, p int64) {
				m.job(j, "closed", "hired", ago(2*h))
				m.proposal(p, j, 100, nil)
				m.fee(100, p, "base", 4)
				m.entry(100, 4, "refund", p, "base", fmt.Sprintf("online:%d:base", p))
			},
			want: map[reconcile.Component]want{reconcile.Base: {false, reconcile.ReasonHired, reconcile.UnexpectedRefund, ""}},
		},
		{
			name: "refunded with another amount",
			build: func(m *market, j, p int64) {
				m.job(j, "closed", "no_hire", ago(2*h))
				m.proposal(p, j, 100, nil)
				m.fee(100, p, "base", 4)
				m.entry(100, 6, "refund", p, "base", fmt.Sprintf("online:%d:base", p))
			},
			want: map[reconcile.Component]want{reconcile.Base: {true, "closed_without_hire", reconcile.AmountMismatch, ""}},
		},
		{
			name:   "a rule turned off",
			policy: func(p *reconcile.Policy) { p.ClosedWithoutHire = false },
			build: func(m *market, j, p int64) {
				m.job(j, "closed", "no_hire", ago(2*h))
				m.proposal(p, j, 100, nil)
				m.fee(100, p, "base", 4)
			},
			want: map[reconcile.Component]want{reconcile.Base: {false, reconcile.ReasonRuleOff, reconcile.NotOwed, "closed_without_hire is off"}},
		},
	}
	// One database for every case: case i is job i+1 and proposal 10(i+1).
	m := newMarket(t)
	for i, tc := range cases {
		tc.build(m, int64(i+1), int64(10*(i+1)))
	}
	ctx := context.Background()
	plans := map[string]*reconcile.Plan{}
	for i, tc := range cases {
		id := int64(10 * (i + 1))
		p := reconcile.DefaultPolicy()
		if tc.policy != nil {
			tc.policy(&p)
		}
		key := fmt.Sprintf("%+v", p)
		if plans[key] == nil {
			plan, err := m.reconciler(p).Plan(ctx)
			if err != nil {
				t.Fatal(err)
			}
			plans[key] = plan
		}
		planned := map[reconcile.Component]bool{}
		for _, r := range refundsOf(t, plans[key]) {
			if r.ProposalID == id {
				planned[r.Component] = true
			}
		}
		store := m.reconciler(p).Store.(*postgres.Store)
		facts, err := store.ProposalFacts(ctx, p, m.now.Add(-p.SettleDelay), []int64{id, 999})
		if err != nil {
			t.Fatal(err)
		}
		if len(facts) != 1 || facts[0].ProposalID != id {
			t.Fatalf("%s: facts for proposals %d and 999 (missing): got %d proposals, want %d only", tc.name, id, len(facts), id)
		}
		e := reconcile.Explain(facts[0], p)
		if len(e.Components) != 2 {
			t.Fatalf("%s: got %d components, want base and boost", tc.name, len(e.Components))
		}
		for _, c := range e.Components {
			if (c.Status == reconcile.MissingRefund) != planned[c.Component] {
				t.Errorf("%s: %s: explain says %s, the job's plan has it: %v", tc.name, c.Component, c.Status, planned[c.Component])
			}
			w, ok := tc.want[c.Component]
			if !ok {
				continue
			}
			if c.Owed != w.owed || c.Reason != w.reason || c.Status != w.status {
				t.Errorf("%s: %s: got owed %v, reason %s, status %s; want %v, %s, %s (why: %s)",
					tc.name, c.Component, c.Owed, c.Reason, c.Status, w.owed, w.reason, w.status, c.Why)
			}
			if !strings.Contains(c.Why+" "+c.Outcome, w.why) {
				t.Errorf("%s: %s: wording %q / %q lacks %q", tc.name, c.Component, c.Why, c.Outcome, w.why)
			}
		}
		if text := e.Text(); !strings.Contains(text, fmt.Sprintf("Proposal %d by freelancer 100", id)) {
			t.Errorf("%s: text:\n%s", tc.name, text)
		}
	}
}

// A freelancer's proposals, newest first, and the ledger rows with the run
// that wrote a refund.
func TestExplainFreelancerAndLedger(t *testing.T) {
	t.Parallel()
	m := newMarket(t)
	m.job(1, "closed", "no_hire", ago(2*h))
	m.proposal(10, 1, 100, nil)
	m.fee(100, 10, "base", 4)
	m.proposal(11, 1, 100, nil)
	m.proposal(12, 1, 101, nil)
	m.exec(`UPDATE proposals SET submitted_at = submitted_at + interval '1 hour' WHERE id = 11`)
	r := m.reconciler(reconcile.DefaultPolicy())
	if _, err := r.Run(context.Background(), "run-1"); err != nil {
		t.Fatal(err)
	}
	store := r.Store.(*postgres.Store)
	ids, err := store.FreelancerProposals(context.Background(), 100, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || ids[0] != 11 || ids[1] != 10 {
		t.Errorf("freelancer 100's proposals: got %v, want [11 10]", ids)
	}
	facts, err := store.ProposalFacts(context.Background(), r.Policy, m.now, []int64{10})
	if err != nil {
		t.Fatal(err)
	}
	if len(facts) != 1 || len(facts[0].Ledger) != 2 {
		t.Fatalf("ledger of proposal 10: got %+v, want the fee and the refund", facts)
	}
	fee, refund := facts[0].Ledger[0], facts[0].Ledger[1]
	if fee.Type != "proposal_fee" || fee.Amount != -4 || refund.Type != "refund" || refund.IdempotencyKey != "refund:10:base" ||
		refund.RunID != "run-1" || refund.Rule != "closed_without_hire" {
		t.Errorf("ledger: got %+v, %+v", fee, refund)
	}
	e := reconcile.Explain(facts[0], r.Policy)
	if e.Components[0].Status != reconcile.Refunded || !strings.Contains(e.Text(), "reconciler run run-1") {
		t.Errorf("after the run: status %s, text:\n%s", e.Components[0].Status, e.Text())
	}
}
