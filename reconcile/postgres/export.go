package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"time"

	"github.com/jmoiron/sqlx"

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
	out, err := selectAs(ctx, s.read, refundGroupRow.group, q, args...)
	if err != nil {
		return nil, fmt.Errorf("refund totals: %w", translate(err))
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
//
// This is the export's hot loop (every refund entry of a period, 200k rows/s
// and more), so it does not StructScan: sqlx's reflection per row cost 20-22 %
// more client CPU on a 1M export of 169k rows (user time 0.283 -> 0.340 s and
// 0.340 -> 0.414 s, means of eight runs each, back to back; this path 0.356).
// The row is still the row struct below, with its db tags: the statement's
// columns are checked against the tags once (sameColumns), then each row is
// one rows.Scan into the struct's fields. Its columns of few values are
// sql.RawBytes, valid until the next row and interned, so a row allocates
// only its idempotency key.
func streamRefunds(ctx context.Context, db sqlx.QueryerContext, q string, args []any, fn func(reconcile.LedgerRefund) error) error {
	rows, err := db.QueryxContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("export refunds: %w", translate(err))
	}
	defer rows.Close()
	var row refundRow
	dest := row.fields()
	if err := sameColumns(rows, &row, dest); err != nil {
		return fmt.Errorf("export refunds: %w", err)
	}
	in := reconcile.Interner{}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("export refunds: %w", translate(err))
		}
		if err := fn(row.refund(in)); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("export refunds: %w", translate(err))
	}
	return nil
}

// sameColumns checks that a statement returns the columns of the row struct
// row points to, by their db tags, in the order of dest (pointers to row's
// fields): the one check that lets a hot loop scan into dest by position.
func sameColumns(rows *sqlx.Rows, row any, dest []any) error {
	cols, err := rows.Columns()
	if err != nil {
		return translate(err)
	}
	v := reflect.ValueOf(row).Elem()
	tags := map[uintptr]string{}
	for i := 0; i < v.NumField(); i++ {
		tags[v.Field(i).Addr().Pointer()] = v.Type().Field(i).Tag.Get("db")
	}
	if len(cols) != len(dest) {
		return fmt.Errorf("the statement returns %d columns (%v), the row struct scans %d", len(cols), cols, len(dest))
	}
	for i, d := range dest {
		if tag := tags[reflect.ValueOf(d).Pointer()]; tag != cols[i] {
			return fmt.Errorf("column %d is %q, the row struct scans %q there", i+1, cols[i], tag)
		}
	}
	return nil
}

// refundRow is a row of the refunds export's statements (refund_columns.sql
// and adjusts_period). The text columns of few distinct values are raw
// bytes, interned by refund.
type refundRow struct {
	EntryID        int64        `db:"entry_id"`
	CreatedAt      time.Time    `db:"created_at"`
	FreelancerID   int64        `db:"freelancer_id"`
	ProposalID     int64        `db:"proposal_id"`
	JobID          int64        `db:"job_id"`
	Component      sql.RawBytes `db:"component"`
	Connects       int64        `db:"connects"`
	IssuedBy       sql.RawBytes `db:"issued_by"`
	Rule           sql.RawBytes `db:"rule"`
	RunID          sql.RawBytes `db:"run_id"`
	IdempotencyKey string       `db:"idempotency_key"`
	Verdict        sql.RawBytes `db:"verdict"`
	AdjustsPeriod  sql.RawBytes `db:"adjusts_period"`
}

// fields are the scan destinations of r, in the statements' column order
// (checked by sameColumns).
func (r *refundRow) fields() []any {
	return []any{&r.EntryID, &r.CreatedAt, &r.FreelancerID, &r.ProposalID, &r.JobID, &r.Component,
		&r.Connects, &r.IssuedBy, &r.Rule, &r.RunID, &r.IdempotencyKey, &r.Verdict, &r.AdjustsPeriod}
}

func (r *refundRow) refund(in reconcile.Interner) reconcile.LedgerRefund {
	return reconcile.LedgerRefund{
		EntryID: r.EntryID, CreatedAt: r.CreatedAt.UTC(), FreelancerID: r.FreelancerID, ProposalID: r.ProposalID,
		JobID: r.JobID, Component: reconcile.Component(in.Intern(r.Component)), Connects: r.Connects,
		IssuedBy: in.Intern(r.IssuedBy), Rule: reconcile.Rule(in.Intern(r.Rule)), RunID: in.Intern(r.RunID),
		IdempotencyKey: r.IdempotencyKey, Verdict: in.Intern(r.Verdict), AdjustsPeriod: in.Intern(r.AdjustsPeriod),
	}
}

// Runs returns the applying runs that started in [from, to), oldest first.
func (s *Store) Runs(ctx context.Context, from, to time.Time) ([]reconcile.RunSummary, error) {
	out, err := selectAs(ctx, s.read, runRow.summary, qReportRuns, from, to)
	if err != nil {
		return nil, fmt.Errorf("read runs: %w", translate(err))
	}
	return out, nil
}

// selectAs reads a statement's rows into R (a row struct, by db tag) and
// returns each converted by conv.
func selectAs[R, T any](ctx context.Context, db sqlx.QueryerContext, conv func(R) T, q string, args ...any) ([]T, error) {
	var rows []R
	if err := sqlx.SelectContext(ctx, db, &rows, q, args...); err != nil {
		return nil, err
	}
	out := make([]T, len(rows))
	for i, r := range rows {
		out[i] = conv(r)
	}
	return out, nil
}

// runRow is a row of report_runs.sql.
type runRow struct {
	ID              string     `db:"id"`
	Mode            string     `db:"mode"`
	Scope           string     `db:"scope"`
	Shard           string     `db:"shard"`
	Status          string     `db:"status"`
	StartedAt       time.Time  `db:"started_at"`
	FinishedAt      *time.Time `db:"finished_at"`
	RefundsPlanned  int64      `db:"refunds_planned"`
	ConnectsPlanned int64      `db:"connects_planned"`
	RefundsIssued   int64      `db:"refunds_issued"`
	ConnectsIssued  int64      `db:"connects_issued"`
	RefundsSkipped  int64      `db:"refunds_skipped"`
	Discrepancies   int64      `db:"discrepancies"`
	Error           string     `db:"error"`
}

func (r runRow) summary() reconcile.RunSummary {
	out := reconcile.RunSummary{ID: r.ID, Mode: r.Mode, Scope: r.Scope, Shard: r.Shard, Status: r.Status,
		StartedAt: r.StartedAt.UTC(), RefundsPlanned: r.RefundsPlanned, ConnectsPlanned: r.ConnectsPlanned,
		RefundsIssued: r.RefundsIssued, ConnectsIssued: r.ConnectsIssued, RefundsSkipped: r.RefundsSkipped,
		Discrepancies: r.Discrepancies, Error: r.Error}
	if r.FinishedAt != nil {
		f := r.FinishedAt.UTC()
		out.FinishedAt = &f
	}
	return out
}
