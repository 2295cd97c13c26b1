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
func coverage(ctx context.Context, tx *sqlx.Tx, runID string, p *reconcile.Plan) (reconcile.Coverage, error) {
	var row struct {
		OverdueRefunds   int64        `db:"overdue_refunds"`
		OverdueConnects  int64        `db:"overdue_connects"`
		SettlingRefunds  int64        `db:"settling_refunds"`
		SettlingConnects int64        `db:"settling_connects"`
		Oldest           sql.NullTime `db:"oldest"`
	}
	if err := tx.GetContext(ctx, &row, qRefundCoverage, p.SettleCutoff, p.Lookback().Seconds(), runID); err != nil {
		return reconcile.Coverage{}, fmt.Errorf("refund coverage: %w", translate(err))
	}
	return reconcile.Coverage{
		Overdue:         reconcile.Amount{Refunds: row.OverdueRefunds, Connects: row.OverdueConnects},
		Settling:        reconcile.Amount{Refunds: row.SettlingRefunds, Connects: row.SettlingConnects},
		OldestUnmatched: utcPtr(row.Oldest),
	}, nil
}

var (
	qRefundCoverage = query("refund_coverage.sql")
	qMatchStage     = query("match_stage.sql")
	qMatchCopy      = query("match_copy.sql")
	qMatchPlanned   = query("match_planned.sql")
)

// matchPlanned writes, in tx, the matches of the refund entries the plan
// found, with the verdicts its policy evaluation reached (Plan.EachMatch):
// streamed from the spool into a temporary table with COPY, then one insert
// (match_planned.sql). It returns how many entries and Connects it matched.
func matchPlanned(ctx context.Context, tx *sqlx.Tx, runID string, p *reconcile.Plan) (int64, int64, error) {
	if p.Matches() == 0 {
		return 0, 0, nil
	}
	err := copyRows(ctx, tx, qMatchStage, qMatchCopy, func(add func(...any) error) error {
		return p.EachMatch(func(v reconcile.Verdict) error {
			return add(v.MatchEntryID, v.MatchEntryAt, v.ProposalID, string(v.Component), v.JobID,
				v.RefundedTo, v.Refunded, v.Charged, string(v.Rule), string(v.State))
		})
	})
	if err != nil {
		return 0, 0, fmt.Errorf("matches: %w", err)
	}
	var got struct {
		Matched  int64 `db:"matched"`
		Connects int64 `db:"connects"`
	}
	if err := tx.GetContext(ctx, &got, qMatchPlanned, runID); err != nil {
		return 0, 0, fmt.Errorf("match planned refunds: %w", translate(err))
	}
	return got.Matched, got.Connects, nil
}

// matchRefunds matches, in tx, the refund entries created in [p.MatchFrom,
// p.SettleCutoff) that no run matched yet, under the plan's policy, for the
// shard's components (match_refunds.sql), and returns how many entries and
// Connects it matched. After matchPlanned, these are what the plan could not
// place: entries with no proposal or a stray component, of proposals the
// run did not plan, or committed after the plan read.
func matchRefunds(ctx context.Context, tx *sqlx.Tx, runID string, p *reconcile.Plan, shard reconcile.Shard) (int64, int64, error) {
	from := any("-infinity")
	if !p.MatchFrom.IsZero() {
		from = p.MatchFrom
	}
	args := append(policyArgs(p.Policy, p.SettleCutoff), from, p.SettleCutoff, runID)
	var got struct {
		Matched  int64 `db:"matched"`
		Connects int64 `db:"connects"`
	}
	if err := tx.GetContext(ctx, &got, statement("match_refunds.sql", filter{kind: byUnmatched.kind, shard: shard}), args...); err != nil {
		return 0, 0, fmt.Errorf("match refunds: %w", translate(err))
	}
	return got.Matched, got.Connects, nil
}
