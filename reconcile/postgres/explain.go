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

// ProposalFacts returns, for each of the proposals ids that exists, what the
// policy p looks at and what it decides with the settle cutoff, and the
// proposal's ledger entries, in proposal id order. The decision comes from
// the policy fragment (policy.sql) the job itself uses.
func (s *Store) ProposalFacts(ctx context.Context, p reconcile.Policy, cutoff time.Time, ids []int64) ([]reconcile.ProposalFacts, error) {
	args := append(policyArgs(p, cutoff), pq.Array(ids))
	rows, err := s.read.QueryContext(ctx, statement("explain_facts.sql", byIDs), args...)
	if err != nil {
		return nil, fmt.Errorf("explain: %w", translate(err))
	}
	defer rows.Close()
	var out []reconcile.ProposalFacts
	index := map[int64]int{}
	for rows.Next() {
		var f reconcile.ProposalFacts
		var c reconcile.ComponentFacts
		var component, rule, class string
		if err := rows.Scan(&f.ProposalID, &f.JobID, &f.FreelancerID, &f.SubmittedAt, &f.WithdrawnAt,
			&f.JobStatus, &f.CloseReason, &f.ClosedAt, &f.HasAuction, &f.AuctionEndedAt,
			&f.HasBid, &f.BidOutcome, &f.OutbidAt, &f.FirstEligibleAt, &f.FirstEligibleKind, &f.FirstDeclinedAt,
			&component, &c.Charged, &c.HasRefund, &c.Refunded, &c.Account, &rule, &c.Owed, &class, &c.EventAt,
			&c.Reason, &c.ReasonAlso, &c.RefundedTo); err != nil {
			return nil, fmt.Errorf("explain: %w", translate(err))
		}
		c.Component, c.Rule, c.State = reconcile.Component(component), reconcile.Rule(rule), reconcile.State(class)
		i, ok := index[f.ProposalID]
		if !ok {
			f.UTC()
			index[f.ProposalID] = len(out)
			out = append(out, f)
			i = len(out) - 1
		}
		c.EventAt = reconcile.UTC(c.EventAt)
		out[i].Components = append(out[i].Components, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("explain: %w", translate(err))
	}
	if len(out) == 0 {
		return nil, nil
	}
	found := make([]int64, len(out))
	for i, f := range out {
		found[i] = f.ProposalID
	}
	entries, err := s.read.QueryContext(ctx, qExplainEntries, pq.Array(found))
	if err != nil {
		return nil, fmt.Errorf("explain ledger: %w", translate(err))
	}
	defer entries.Close()
	for entries.Next() {
		var e reconcile.LedgerEntry
		var proposal int64
		if err := entries.Scan(&e.ID, &e.CreatedAt, &e.FreelancerID, &e.Type, &proposal, &e.Component,
			&e.Amount, &e.IdempotencyKey, &e.RunID, &e.Rule); err != nil {
			return nil, fmt.Errorf("explain ledger: %w", translate(err))
		}
		e.CreatedAt = e.CreatedAt.UTC()
		i := index[proposal]
		out[i].Ledger = append(out[i].Ledger, e)
	}
	if err := entries.Err(); err != nil {
		return nil, fmt.Errorf("explain ledger: %w", translate(err))
	}
	return out, nil
}
