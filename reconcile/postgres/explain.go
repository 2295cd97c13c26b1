package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/lib/pq"

	"github.com/connects/connects-reconciler/reconcile"
)

// Explain statements.
var (
	qExplainProposals = query("explain_proposals.sql")
	qExplainEntries   = query("explain_entries.sql")
)

// FreelancerProposals returns the ids of a freelancer's most recent
// proposals, at most limit, newest first.
func (s *Store) FreelancerProposals(ctx context.Context, freelancerID int64, limit int) ([]int64, error) {
	var ids []int64
	if err := s.read.SelectContext(ctx, &ids, qExplainProposals, freelancerID, limit); err != nil {
		return nil, fmt.Errorf("find the freelancer's proposals: %w", translate(err))
	}
	return ids, nil
}

// factRow is one row of explain_facts.sql: one proposal asked about and one
// component, with what the policy fragment decided and the facts it saw.
type factRow struct {
	ProposalID        int64      `db:"proposal_id"`
	Component         string     `db:"component"`
	Known             bool       `db:"known"`
	Decided           bool       `db:"decided"`
	JobID             int64      `db:"job_id"`
	FreelancerID      int64      `db:"freelancer_id"`
	SubmittedAt       *time.Time `db:"submitted_at"`
	WithdrawnAt       *time.Time `db:"withdrawn_at"`
	JobStatus         *string    `db:"job_status"`
	CloseReason       *string    `db:"close_reason"`
	ClosedAt          *time.Time `db:"closed_at"`
	AuctionEndedAt    *time.Time `db:"auction_ended_at"`
	HasBid            bool       `db:"has_bid"`
	BidOutcome        *string    `db:"bid_outcome"`
	OutbidAt          *time.Time `db:"outbid_at"`
	FirstEligibleAt   *time.Time `db:"first_eligible_at"`
	FirstEligibleKind *string    `db:"first_eligible_kind"`
	FirstDeclinedAt   *time.Time `db:"first_declined_at"`
	Charged           int64      `db:"charged"`
	Refunded          *int64     `db:"refunded"`
	Account           int64      `db:"account"`
	RefundedTo        *int64     `db:"refunded_to"`
	Rule              *string    `db:"rule"`
	Owed              bool       `db:"owed"`
	State             *string    `db:"state"`
	Defect            *string    `db:"defect"`
	EventAt           *time.Time `db:"event_at"`
	Reason            *string    `db:"reason"`
	ReasonAlso        *string    `db:"reason_also"`
	Toggle            *string    `db:"toggle"`
	ToggleAlso        *string    `db:"toggle_also"`
	CloseCovered      bool       `db:"close_covered"`
}

// component converts the row's decision.
func (r factRow) component() reconcile.ComponentFacts {
	return reconcile.ComponentFacts{
		Component: reconcile.Component(r.Component), Charged: r.Charged,
		HasRefund: r.Refunded != nil, Refunded: deref(r.Refunded), Account: r.Account, RefundedTo: deref(r.RefundedTo),
		Rule: reconcile.Rule(deref(r.Rule)), Owed: r.Owed, State: reconcile.State(deref(r.State)),
		Defect: reconcile.State(deref(r.Defect)), EventAt: r.EventAt, Reason: deref(r.Reason),
		ReasonAlso: deref(r.ReasonAlso), Toggle: deref(r.Toggle), ToggleAlso: deref(r.ToggleAlso), CloseCovered: r.CloseCovered,
	}
}

// facts sets the proposal's facts from the row: its own row's, and, from a
// row the policy decided, the facts the policy saw (the same on each of the
// proposal's rows).
func (r factRow) facts(f *reconcile.ProposalFacts) {
	if f.ProposalID == 0 {
		*f = reconcile.ProposalFacts{ProposalID: r.ProposalID, Exists: r.Known, JobID: r.JobID, FreelancerID: r.FreelancerID,
			SubmittedAt: r.SubmittedAt, WithdrawnAt: r.WithdrawnAt}
	}
	if !r.Decided || f.JobStatus != "" {
		return
	}
	f.JobStatus, f.CloseReason, f.ClosedAt = deref(r.JobStatus), deref(r.CloseReason), r.ClosedAt
	f.AuctionEndedAt, f.HasBid, f.BidOutcome, f.OutbidAt = r.AuctionEndedAt, r.HasBid, deref(r.BidOutcome), r.OutbidAt
	f.FirstEligibleAt, f.FirstEligibleKind, f.FirstDeclinedAt = r.FirstEligibleAt, deref(r.FirstEligibleKind), r.FirstDeclinedAt
}

// entryRow is one row of explain_entries.sql.
type entryRow struct {
	ID             int64     `db:"id"`
	CreatedAt      time.Time `db:"created_at"`
	FreelancerID   int64     `db:"freelancer_id"`
	Type           string    `db:"entry_type"`
	ProposalID     int64     `db:"proposal_id"`
	Component      string    `db:"component"`
	Amount         int64     `db:"amount"`
	IdempotencyKey string    `db:"idempotency_key"`
	RunID          string    `db:"run_id"`
	Rule           string    `db:"rule"`
}

// ProposalFacts returns, for each of the proposals ids that exists or that
// ledger entries name, what the policy p decides with the settle cutoff and
// the facts it saw (explain_facts.sql, over the policy fragment the job
// itself uses), and the proposal's ledger entries, in proposal id order.
func (s *Store) ProposalFacts(ctx context.Context, p reconcile.Policy, cutoff time.Time, ids []int64) ([]reconcile.ProposalFacts, error) {
	var rows []factRow
	args := append(policyArgs(p, cutoff), pq.Array(ids))
	if err := s.read.SelectContext(ctx, &rows, statement("explain_facts.sql", filter{kind: byIDs.kind, explain: true}), args...); err != nil {
		return nil, fmt.Errorf("explain: %w", translate(err))
	}
	var out []reconcile.ProposalFacts
	index := map[int64]int{}
	for _, r := range rows {
		i, ok := index[r.ProposalID]
		if !ok {
			index[r.ProposalID] = len(out)
			out = append(out, reconcile.ProposalFacts{})
			i = len(out) - 1
		}
		r.facts(&out[i])
		out[i].Components = append(out[i].Components, r.component())
	}
	// A proposal that does not exist and that no ledger entry names is
	// not there to explain.
	found := out[:0]
	for _, f := range out {
		if f.Exists || f.JobStatus != "" || decided(f) {
			f.UTC()
			found = append(found, f)
		}
	}
	out = found
	if len(out) == 0 {
		return nil, nil
	}
	ids = make([]int64, len(out))
	index = map[int64]int{}
	for i, f := range out {
		ids[i], index[f.ProposalID] = f.ProposalID, i
	}
	var entries []entryRow
	if err := s.read.SelectContext(ctx, &entries, qExplainEntries, pq.Array(ids)); err != nil {
		return nil, fmt.Errorf("explain ledger: %w", translate(err))
	}
	for _, e := range entries {
		i := index[e.ProposalID]
		out[i].Ledger = append(out[i].Ledger, reconcile.LedgerEntry{ID: e.ID, CreatedAt: e.CreatedAt.UTC(), FreelancerID: e.FreelancerID,
			Type: e.Type, Component: e.Component, Amount: e.Amount, IdempotencyKey: e.IdempotencyKey, RunID: e.RunID, Rule: e.Rule})
	}
	return out, nil
}

// decided says the policy has a row for a component of the proposal.
func decided(f reconcile.ProposalFacts) bool {
	for _, c := range f.Components {
		if c.Reason != "" {
			return true
		}
	}
	return false
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
