// Package finance makes what the finance team reads: exports of a period's
// refund entries (CSV or JSON, with a checksum and a manifest), their summary,
// the discrepancies the last full sweep recorded, and a self-contained HTML
// report.
//
// It reads the database only through a narrow interface, Store (refund
// entries, runs, the clock, the last full sweep's record), so its formatting
// and aggregation are tested without a database; reconcile/postgres.Store
// implements it. Nothing here plans the marketplace: the discrepancies and
// the owed refunds are those the last full sweep recorded, so a report costs
// what its period holds, not what the marketplace holds. Each export kind is one Spec in Specs:
// its columns, whether it takes a period, and how it writes; each row type is
// described once, by a table of columns that gives both its CSV cells and its
// JSON values.
package finance

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/connects/connects-reconciler/reconcile"
)

// Store is what finance reads from the database.
type Store interface {
	// Clock is the database's clock.
	Clock(ctx context.Context) (time.Time, error)
	// Refunds streams every refund entry created in [from, to), in
	// created_at, id order, to fn, one at a time, each with its match (the
	// rule and verdict a run recorded when it first saw the entry settled),
	// or Verdict Unmatched. It stops at the first error fn returns and
	// returns it.
	Refunds(ctx context.Context, from, to time.Time, fn func(reconcile.LedgerRefund) error) error
	// RefundTotals returns the rows Refunds streams for [from, to) summed
	// by the database: their groups by UTC day, rule, component, issuer,
	// matched or not, and Connects per entry.
	RefundTotals(ctx context.Context, from, to time.Time) ([]reconcile.RefundGroup, error)
	// Runs returns the applying runs that started in [from, to), oldest
	// first.
	Runs(ctx context.Context, from, to time.Time) ([]reconcile.RunSummary, error)
	// LastSweep returns the record of the last full sweep recorded at or
	// before by (nil: the last of all), every shard's; nil when none is.
	LastSweep(ctx context.Context, by *time.Time) (*reconcile.SweepRecord, error)
	// SweepExceptions streams the exceptions open as of a sweep's plan time
	// asOf, by kind then proposal, each with its latest acknowledgement.
	SweepExceptions(ctx context.Context, asOf time.Time, fn func(reconcile.Exception) error) error
}

// Finance makes exports and reports.
type Finance struct {
	Store  Store
	Policy reconcile.Policy
	Price  reconcile.Price
	// BOM starts CSV exports with a UTF-8 byte order mark, for Excel.
	BOM bool
	// Progress, when set, reports the refunds read as they stream.
	Progress *reconcile.Progress
}

// ErrNoSweep means no full sweep is on record: the discrepancies come from
// the last one's record, not from planning the marketplace again.
var ErrNoSweep = errors.New("no full sweep is on record yet: the discrepancies are those the last full sweep recorded " +
	"(run connects-reconciler run --full, or wait for the daily full CronJob)")

// Period is a half-open interval [From, To) of UTC times.
type Period struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// TimeLayout is RFC 3339 in UTC with microseconds, PostgreSQL's precision:
// fixed width, so that text order is time order.
const TimeLayout = "2006-01-02T15:04:05.000000Z07:00"

func fmtTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// ParseTime reads a date (UTC midnight) or an RFC 3339 time given to the
// flag named flag.
func ParseTime(flag, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, fmt.Errorf("--%s is required (a date like 2026-11-01 or an RFC 3339 time)", flag)
	}
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("--%s must be a date like 2026-11-01 or an RFC 3339 time, got %q", flag, v)
	}
	return t.UTC(), nil
}

// ParsePeriod reads --from and --to: to must be after from.
func ParsePeriod(from, to string) (Period, error) {
	f, err1 := ParseTime("from", from)
	t, err2 := ParseTime("to", to)
	if err := errors.Join(err1, err2); err != nil {
		return Period{}, err
	}
	if !t.After(f) {
		return Period{}, fmt.Errorf("--to %s must be after --from %s (the period is [from, to))", fmtTime(t), fmtTime(f))
	}
	return Period{From: f, To: t}, nil
}

// asOf reads the database clock: the moment the data of period p stands
// for, and whether p was over (complete) at the export.
func (f *Finance) asOf(ctx context.Context, p Period) (time.Time, bool, error) {
	now, err := f.Store.Clock(ctx)
	if err != nil {
		return time.Time{}, false, err
	}
	if !p.To.After(now) {
		return p.To, true, nil
	}
	return now, false, nil
}
