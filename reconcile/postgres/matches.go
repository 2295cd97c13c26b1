package postgres

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/connects/connects-reconciler/reconcile"
)

// byUnmatched: the proposals of the refund entries match_refunds.sql is about
// to match (its "todo" CTE); the filter takes no parameter of its own.
var byUnmatched = filter{kind: "unmatched"}

// coverage reads what is left unmatched after the run matched, in tx
// (refund_coverage.sql).
func coverage(ctx context.Context, tx *sqlx.Tx, p *reconcile.Plan) (reconcile.Coverage, error) {
	var c reconcile.Coverage
	var oldest sql.NullTime
	if err := tx.QueryRowContext(ctx, qRefundCoverage, p.SettleCutoff, p.Lookback().Seconds()).Scan(
		&c.Overdue.Refunds, &c.Overdue.Connects, &c.Settling.Refunds, &c.Settling.Connects, &oldest); err != nil {
		return c, fmt.Errorf("refund coverage: %w", translate(err))
	}
	c.OldestUnmatched = utcPtr(oldest)
	return c, nil
}

var qRefundCoverage = query("refund_coverage.sql")

// matchRefunds matches, in tx, the refund entries created in [p.MatchFrom,
// p.SettleCutoff) that no run matched yet, under the plan's policy, for the
// shard's components (match_refunds.sql), and returns how many entries and
// Connects it matched.
func matchRefunds(ctx context.Context, tx *sqlx.Tx, runID string, p *reconcile.Plan, shard reconcile.Shard) (int64, int64, error) {
	from := any("-infinity")
	if !p.MatchFrom.IsZero() {
		from = p.MatchFrom
	}
	args := append(policyArgs(p.Policy, p.SettleCutoff), from, p.SettleCutoff, runID)
	var n, connects int64
	if err := tx.QueryRowContext(ctx, statement("match_refunds.sql", filter{kind: byUnmatched.kind, shard: shard}), args...).
		Scan(&n, &connects); err != nil {
		return 0, 0, fmt.Errorf("match refunds: %w", translate(err))
	}
	return n, connects, nil
}
