package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/connects/connects-reconciler/reconcile"
)

var (
	qClosedPeriodsOf      = query("closed_periods_of.sql")
	qClosePeriodUnmatched = query("close_period_unmatched.sql")
	qClosePeriod          = query("close_period.sql")
	qClosedPeriodChanges  = query("closed_period_changes.sql")
)

// exportPlan is how the refunds export of [from, to) reads: the closed
// period itself (closed set), or an open period with or without closed
// periods before it.
type exportPlan struct {
	closed   *reconcile.ClosedPeriod
	adjusted bool // a closed period ends by to: adjustments may belong to this period
}

// planExport finds the closed periods that bear on an export of [from, to):
// exactly one → read its entries; one that overlaps without being it → a
// *reconcile.PeriodError.
func planExport(ctx context.Context, q sqlx.QueryerContext, from, to time.Time) (exportPlan, error) {
	var rows []closedPeriodRow
	if err := sqlx.SelectContext(ctx, q, &rows, qClosedPeriodsOf, from, to); err != nil {
		return exportPlan{}, fmt.Errorf("read closed periods: %w", translate(err))
	}
	var out exportPlan
	for _, r := range rows {
		c, err := r.period()
		if err != nil {
			return exportPlan{}, err
		}
		switch {
		case r.Overlaps && c.From.Equal(from) && c.To.Equal(to):
			out.closed = &c
		case r.Overlaps:
			return exportPlan{}, &reconcile.PeriodError{Msg: fmt.Sprintf(
				"the period [%s, %s) overlaps the closed period [%s, %s) without being it: export the closed period whole, or a period outside it",
				fmtTime(from), fmtTime(to), fmtTime(c.From), fmtTime(c.To))}
		default:
			out.adjusted = true
		}
	}
	return out, nil
}

// closedPeriodRow is a row of closed_periods_of.sql.
type closedPeriodRow struct {
	ID              int64     `db:"id"`
	From            time.Time `db:"period_from"`
	To              time.Time `db:"period_to"`
	ClosedAt        time.Time `db:"closed_at"`
	ClosedBy        string    `db:"closed_by"`
	Rows            int64     `db:"rows"`
	Connects        int64     `db:"connects"`
	SHA256          string    `db:"sha256"`
	PricePerConnect string    `db:"price_per_connect"`
	Overlaps        bool      `db:"overlaps"`
}

func (r closedPeriodRow) period() (reconcile.ClosedPeriod, error) {
	price, err := reconcile.ParsePrice(r.PricePerConnect)
	if err != nil {
		return reconcile.ClosedPeriod{}, fmt.Errorf("closed period %d: price: %w", r.ID, err)
	}
	return reconcile.ClosedPeriod{ID: r.ID, From: r.From.UTC(), To: r.To.UTC(), ClosedAt: r.ClosedAt.UTC(), ClosedBy: r.ClosedBy,
		Rows: r.Rows, Connects: r.Connects, SHA256: r.SHA256, PricePerConnect: price}, nil
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// statement and arguments of the refunds export of [from, to) under plan.
func (e exportPlan) query(from, to time.Time) (string, []any) {
	switch {
	case e.closed != nil:
		return statement("export_closed_refunds.sql", filter{}), []any{from, to, e.closed.ID}
	case e.adjusted:
		return statement("export_refunds_adjusted.sql", filter{}), []any{from, to}
	default:
		return statement("export_refunds.sql", filter{}), []any{from, to}
	}
}

// The finance report's totals (report_refund_totals.sql), one statement per
// kind of export: they sum the rows of the statement query picks.
var qRefundTotals = map[exportKind]string{}

// exportKind picks the export's rows fragment in report_refund_totals.sql.
type exportKind struct{ Closed, Adjusted bool }

func init() {
	for _, k := range []exportKind{{}, {Closed: true}, {Adjusted: true}} {
		qRefundTotals[k] = files.Render("report_refund_totals.sql", k)
	}
}

// totalsQuery is the statement and arguments of the refunds export of
// [from, to) under plan, summed (report_refund_totals.sql).
func (e exportPlan) totalsQuery(from, to time.Time) (string, []any) {
	switch {
	case e.closed != nil:
		return qRefundTotals[exportKind{Closed: true}], []any{from, to, e.closed.ID}
	case e.adjusted:
		return qRefundTotals[exportKind{Adjusted: true}], []any{from, to}
	default:
		return qRefundTotals[exportKind{}], []any{from, to}
	}
}

// ClosedPeriod returns the closed period [from, to), nil when it is not
// closed, or a *reconcile.PeriodError when it overlaps one without being it.
func (s *Store) ClosedPeriod(ctx context.Context, from, to time.Time) (*reconcile.ClosedPeriod, error) {
	p, err := planExport(ctx, s.read, from, to)
	return p.closed, err
}

// ClosePeriod closes [from, to) on the primary, in one REPEATABLE READ
// transaction: it refuses a period that has not ended, overlaps a closed one
// or has refund entries before its end that no run matched yet; streams the
// period's refunds export to digest (which returns its rows, Connects and
// sha256 as `export --format csv` writes it at price), then records the
// period with them and the entries the export held.
func (s *Store) ClosePeriod(ctx context.Context, from, to time.Time, by string, price reconcile.Price,
	digest func(each func(fn func(reconcile.LedgerRefund) error) error) (reconcile.PeriodDigest, error)) (*reconcile.ClosedPeriod, error) {
	tx, err := s.db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return nil, fmt.Errorf("close period: %w", translate(err))
	}
	defer tx.Rollback()
	var now time.Time
	if err := tx.GetContext(ctx, &now, qClock); err != nil {
		return nil, fmt.Errorf("close period: read clock: %w", translate(err))
	}
	if to.After(now) {
		return nil, &reconcile.PeriodError{Later: true, Msg: fmt.Sprintf("the period [%s, %s) has not ended (the database's clock says %s): close it once it is over",
			fmtTime(from), fmtTime(to), fmtTime(now))}
	}
	plan, err := planExport(ctx, tx, from, to)
	if err != nil {
		return nil, err
	}
	if plan.closed != nil {
		return nil, &reconcile.PeriodError{Msg: fmt.Sprintf("the period [%s, %s) is already closed (%s by %s, sha256 %s)",
			fmtTime(from), fmtTime(to), fmtTime(plan.closed.ClosedAt), plan.closed.ClosedBy, plan.closed.SHA256)}
	}
	var unmatched []struct {
		ID        int64     `db:"id"`
		CreatedAt time.Time `db:"created_at"`
		Total     int64     `db:"total"`
	}
	if err := tx.SelectContext(ctx, &unmatched, qClosePeriodUnmatched, to); err != nil {
		return nil, fmt.Errorf("close period: unmatched refunds: %w", translate(err))
	}
	if len(unmatched) > 0 {
		var ids []string
		for _, u := range unmatched {
			ids = append(ids, fmt.Sprintf("%d (created %s)", u.ID, fmtTime(u.CreatedAt)))
		}
		return nil, &reconcile.PeriodError{Later: true, Msg: fmt.Sprintf(
			"%d refund entries created before %s are not matched yet (no run has seen them settled), e.g. entry %s: "+
				"a run matches them once they are past the settle delay (the daily full sweep matches any left); close the period after it",
			unmatched[0].Total, fmtTime(to), strings.Join(ids, ", entry "))}
	}
	q, args := exportPlan{adjusted: true}.query(from, to)
	d, err := digest(func(fn func(reconcile.LedgerRefund) error) error { return streamRefunds(ctx, tx, q, args, fn) })
	if err != nil {
		return nil, err
	}
	c := &reconcile.ClosedPeriod{From: from, To: to, ClosedBy: by, Rows: d.Rows, Connects: d.Connects, SHA256: d.SHA256, PricePerConnect: price}
	if err := tx.QueryRowContext(ctx, qClosePeriod, from, to, by, d.Rows, d.Connects, d.SHA256, price.String()).Scan(&c.ID, &c.ClosedAt); err != nil {
		return nil, fmt.Errorf("close period: %w", translate(err))
	}
	c.ClosedAt = c.ClosedAt.UTC()
	res, err := tx.ExecContext(ctx, statement("close_period_entries.sql", filter{}), from, to, c.ID)
	if err != nil {
		return nil, fmt.Errorf("close period: record its entries: %w", translate(err))
	}
	if n, _ := res.RowsAffected(); n != d.Rows {
		return nil, fmt.Errorf("close period: the export had %d rows, %d entries recorded; nothing closed", d.Rows, n)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("close period: %w", translate(err))
	}
	return c, nil
}

// ClosedPeriodChanges names what changed in the ledger under a closed
// period since it was closed (the first 20), and how many changes of each
// kind there are.
func (s *Store) ClosedPeriodChanges(ctx context.Context, id int64) ([]reconcile.PeriodChange, map[string]int64, error) {
	var rows []struct {
		Change  string `db:"change"`
		EntryID int64  `db:"entry_id"`
		Detail  string `db:"detail"`
		Total   int64  `db:"total"` // changes of this kind in all
	}
	if err := s.read.SelectContext(ctx, &rows, qClosedPeriodChanges, id); err != nil {
		return nil, nil, fmt.Errorf("closed period changes: %w", translate(err))
	}
	var out []reconcile.PeriodChange
	totals := map[string]int64{}
	for _, r := range rows {
		out, totals[r.Change] = append(out, reconcile.PeriodChange{Change: r.Change, EntryID: r.EntryID, Detail: r.Detail}), r.Total
	}
	return out, totals, nil
}
