package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/connects/connects-reconciler/reconcile"
)

// Finance statements: the refund entries of a period, and the runs in it.
var qReportRuns = query("report_runs.sql")

// Refunds streams every refund entry created in [from, to), in created_at, id
// order, to fn, one at a time: memory stays constant however many there are.
// Each carries its match (export_refunds.sql): the rule and verdict a run
// recorded when it first saw the entry settled, or the verdict Unmatched. No
// policy is evaluated, so the rows do not depend on today's settings. It
// stops at the first error fn returns and returns it.
//
// Rows come from the server as the statement produces them (lib/pq reads each
// row off the connection on rows.Next); the few distinct values of component,
// issuer, rule, run id and verdict are scanned without a copy and interned.
func (s *Store) Refunds(ctx context.Context, from, to time.Time, fn func(reconcile.LedgerRefund) error) error {
	plan, err := planExport(ctx, s.read, from, to)
	if err != nil {
		return err
	}
	q, args := plan.query(from, to)
	return streamRefunds(ctx, s.read, q, args, fn)
}

// RefundTotals returns the refunds export of [from, to) summed by the
// database (report_refund_totals.sql): its rows grouped by UTC day, rule,
// component, issuer, matched or not and Connects per entry. The rows are the
// export's own, picked as Refunds picks them, so the groups add up to the
// export's rows exactly.
func (s *Store) RefundTotals(ctx context.Context, from, to time.Time) ([]reconcile.RefundGroup, error) {
	plan, err := planExport(ctx, s.read, from, to)
	if err != nil {
		return nil, err
	}
	q, args := plan.totalsQuery(from, to)
	var rows []refundGroupRow
	if err := s.read.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, fmt.Errorf("refund totals: %w", translate(err))
	}
	out := make([]reconcile.RefundGroup, len(rows))
	for i, r := range rows {
		out[i] = r.group()
	}
	return out, nil
}

// refundGroupRow is a row of report_refund_totals.sql.
type refundGroupRow struct {
	Day       int64  `db:"day"`
	Rule      string `db:"rule"`
	Component string `db:"component"`
	IssuedBy  string `db:"issued_by"`
	Unmatched bool   `db:"unmatched"`
	Connects  int64  `db:"connects"`
	Refunds   int64  `db:"refunds"`
}

func (r refundGroupRow) group() reconcile.RefundGroup {
	return reconcile.RefundGroup{Day: r.Day, Rule: reconcile.Rule(r.Rule), Component: reconcile.Component(r.Component),
		IssuedBy: r.IssuedBy, Unmatched: r.Unmatched, Connects: r.Connects, Refunds: r.Refunds}
}

// streamRefunds runs one of the refunds export's statements and hands its
// rows to fn, one at a time.
func streamRefunds(ctx context.Context, db queryer, q string, args []any, fn func(reconcile.LedgerRefund) error) error {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("export refunds: %w", translate(err))
	}
	defer rows.Close()
	var r reconcile.LedgerRefund
	var component, issuedBy, rule, runID, verdict, adjusts sql.RawBytes
	in := reconcile.Interner{}
	for rows.Next() {
		if err := rows.Scan(&r.EntryID, &r.CreatedAt, &r.FreelancerID, &r.ProposalID, &r.JobID, &component,
			&r.Connects, &issuedBy, &rule, &runID, &r.IdempotencyKey, &verdict, &adjusts); err != nil {
			return fmt.Errorf("export refunds: %w", translate(err))
		}
		r.CreatedAt = r.CreatedAt.UTC()
		r.Component, r.IssuedBy = reconcile.Component(in.Intern(component)), in.Intern(issuedBy)
		r.Rule, r.RunID, r.Verdict = reconcile.Rule(in.Intern(rule)), in.Intern(runID), in.Intern(verdict)
		r.AdjustsPeriod = in.Intern(adjusts)
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("export refunds: %w", translate(err))
	}
	return nil
}

// Runs returns the applying runs that started in [from, to), oldest first.
func (s *Store) Runs(ctx context.Context, from, to time.Time) ([]reconcile.RunSummary, error) {
	rows, err := s.read.QueryContext(ctx, qReportRuns, from, to)
	if err != nil {
		return nil, fmt.Errorf("read runs: %w", translate(err))
	}
	defer rows.Close()
	var out []reconcile.RunSummary
	for rows.Next() {
		var r reconcile.RunSummary
		if err := rows.Scan(&r.ID, &r.Mode, &r.Scope, &r.Shard, &r.Status, &r.StartedAt, &r.FinishedAt,
			&r.RefundsPlanned, &r.ConnectsPlanned, &r.RefundsIssued, &r.ConnectsIssued,
			&r.RefundsSkipped, &r.Discrepancies, &r.Error); err != nil {
			return nil, fmt.Errorf("read runs: %w", translate(err))
		}
		r.StartedAt = r.StartedAt.UTC()
		if r.FinishedAt != nil {
			f := r.FinishedAt.UTC()
			r.FinishedAt = &f
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read runs: %w", translate(err))
	}
	return out, nil
}
