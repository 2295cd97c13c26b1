// Package synth generates synthetic marketplaces for demos, tests and the
// benchmark: the seed (a whole marketplace), a day of new activity on top of
// one, a backlog (the online path's refunds taken away), and the benchmark's
// references (what the database itself does for the job's work, in one
// statement). None of it is run by the job in production; it writes the
// contract's tables directly, set-based, from the statements in sql/synth.
//
// The seed and a day of activity share their statements: each plans its jobs
// in the temporary table synth_jobs (seed_jobs.sql, activity_jobs.sql) from
// the ids in synth_base (base.sql), and the same statements then write the
// jobs, auctions, proposals, bids, fees, interactions, online refunds and
// balances of the plan, with the same hash salts.
package synth

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"go.uber.org/zap"

	"github.com/connects/connects-reconciler/internal/sqlfile"
	queries "github.com/connects/connects-reconciler/sql"
)

// files holds every generator statement; the ones that include owed.sql
// are rendered for the proposals they cover.
var files = sqlfile.Parse(queries.Synth, "synth")

// filter restricts owed.sql to some proposals (its .In call, filters.sql).
type filter struct{ from string }

// In is called by the templates with a proposal-id column.
func (f filter) In(col string) string {
	if f.from == "" {
		return "TRUE"
	}
	return files.Render("in_table", struct{ Col, Table string }{col, f.from})
}

var (
	everyProposal = filter{}
	candidates    = filter{from: "synth_candidates"}
)

// render executes a statement with a filter.
func render(name string, f filter) string { return files.Render(name, f) }

// query returns a statement file as it is.
func query(name string) string { return files.Text(name) }

// qAnchor is the database's clock to the second, Seed's and Activity's anchor
// when none is given.
var qAnchor = query("anchor.sql")

// Statements shared by the seed and a day of activity.
var (
	qBase          = query("base.sql")
	qInsertJobs    = query("insert_jobs.sql")
	qAuctions      = query("auctions.sql")
	qProposals     = query("proposals.sql")
	qBids          = query("bids.sql")
	qFees          = query("fees.sql")
	qInteractions  = query("interactions.sql")
	qOnlineRefunds = render("online_refunds.sql", candidates)
	qBalances      = query("balances.sql")
	qSequences     = query("sequences.sql")
)

// farFuture is the cutoff of the online path's refunds: it refunds at the
// event, whatever the settle delay.
func farFuture(anchor time.Time) time.Time { return anchor.AddDate(100, 0, 0) }

// step is one generator statement; into receives its row count.
type step struct {
	name string
	q    string
	args []any
	into *int64
}

// runSteps executes steps in order in tx, logging each.
func runSteps(ctx context.Context, tx *sqlx.Tx, what string, steps []step, log *zap.Logger) error {
	for _, s := range steps {
		t0 := time.Now()
		res, err := tx.ExecContext(ctx, s.q, s.args...)
		if err != nil {
			return fmt.Errorf("%s %s: %w", what, s.name, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("%s %s: %w", what, s.name, err)
		}
		if s.into != nil {
			*s.into = n
		}
		log.Debug(what+": "+s.name, zap.Int64("rows", n), zap.Duration("took", time.Since(t0)))
	}
	return nil
}

// onlineRefunds writes the online path's refunds of what the rules say is
// owed for synth_candidates, all but missingPercent, planting mismatches.
func onlineRefunds(ctx context.Context, tx *sqlx.Tx, seed int64, anchor time.Time, missingPercent int, mismatches int64) (owed, written, mismatched int64, err error) {
	var out struct {
		Owed       int64 `db:"owed"`
		Written    int64 `db:"written"`
		Mismatched int64 `db:"mismatched"`
	}
	if err := tx.GetContext(ctx, &out, qOnlineRefunds, farFuture(anchor), seed, anchor, missingPercent, mismatches); err != nil {
		return 0, 0, 0, fmt.Errorf("online refunds: %w", err)
	}
	return out.Owed, out.Written, out.Mismatched, nil
}

// setLocal applies transaction-local settings: UTC, so that interval
// arithmetic never meets a DST change and rows do not depend on the session.
func setLocal(ctx context.Context, tx *sqlx.Tx, workMem string) error {
	for _, set := range []string{"SET LOCAL TimeZone = 'UTC'", "SET LOCAL work_mem = '" + workMem + "'", "SET LOCAL jit = off"} {
		if _, err := tx.ExecContext(ctx, set); err != nil {
			return err
		}
	}
	return nil
}
