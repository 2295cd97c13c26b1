package postgres

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"go.uber.org/zap"

	"github.com/connects/connects-reconciler/reconcile"
)

// ActivityOptions say what one day of new activity holds.
type ActivityOptions struct {
	// Seed selects the day: the same database state, seed, anchor, span and
	// percent give the same rows, ids included.
	Seed int64
	// Anchor is the end of the day: every new event happens in
	// (Anchor - Span, Anchor]. The zero value means the database's now(),
	// truncated to the second.
	Anchor time.Time
	// Span is the length of the day; 0 means 24 hours.
	Span time.Duration
	// Percent sizes the day: about Percent% of the existing proposals are new
	// (on new jobs), Percent% of the jobs close and Percent% of the boost
	// auctions end. 0 means 1.
	Percent float64
	// MissingPercent (0..100) of the day's new owed refunds are left missing
	// for the job to find; the online path wrote the others.
	MissingPercent int
	// Policy decides what the online path refunded; the zero value means
	// reconcile.DefaultPolicy().
	Policy *reconcile.Policy
}

// ActivityStats count what Activity wrote.
type ActivityStats struct {
	Anchor         time.Time `json:"anchor"`
	NewJobs        int64     `json:"new_jobs" db:"new_jobs"`
	NewProposals   int64     `json:"new_proposals" db:"new_proposals"`
	Closures       int64     `json:"closures" db:"closures"`
	AuctionEnds    int64     `json:"auction_ends" db:"auction_ends"`
	Touched        int64     `json:"touched_proposals" db:"touched"`
	NewBids        int64     `json:"new_bids"`
	DecidedBids    int64     `json:"decided_bids"`
	Fees           int64     `json:"fees"`
	Interactions   int64     `json:"interactions"`
	RefundsOwed    int64     `json:"refunds_owed"`
	OnlineRefunds  int64     `json:"online_refunds"`
	MissingRefunds int64     `json:"missing_refunds"`
	TookMS         int64     `json:"took_ms"`
}

// Activity statements. The online refunds evaluate the policy over the
// proposals the day touched.
var (
	qActivityBase          = query("activity_base.sql")
	qActivityJobs          = query("activity_jobs.sql")
	qActivityInsertJobs    = query("activity_insert_jobs.sql")
	qActivityNewAuctions   = query("activity_new_auctions.sql")
	qActivityClosures      = query("activity_closures.sql")
	qActivityCloseJobs     = query("activity_close_jobs.sql")
	qActivityAuctionEnds   = query("activity_auction_ends.sql")
	qActivityEndAuctions   = query("activity_end_auctions.sql")
	qActivityProposals     = query("activity_proposals.sql")
	qActivityBids          = query("activity_bids.sql")
	qActivityFees          = query("activity_fees.sql")
	qActivityInteractions  = query("activity_interactions.sql")
	qActivityTouched       = query("activity_touched.sql")
	qActivityOnlineRefunds = renderActivity("activity_online_refunds.sql")
	qActivityBalances      = query("activity_balances.sql")
	qActivityStats         = query("activity_stats.sql")
	qActivitySequences     = query("seed_sequences.sql")
	qActivityRewind        = query("activity_rewind.sql")
)

// activityFilter renders the policy fragment for the proposals the day
// touched (activity_touched.sql).
type activityFilter struct{ filter }

// In is called by the templates with a proposal-id column.
func (activityFilter) In(col string) string {
	return col + " IN (SELECT id FROM activity_touched)"
}

func renderActivity(name string) string {
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, name, activityFilter{byAll}); err != nil {
		panic(fmt.Sprintf("render %s: %v", name, err)) // a bug in an embedded file
	}
	return b.String()
}

// Activity adds one day of new marketplace activity to a seeded database, in
// one transaction: new jobs with proposals, fees, bids and interactions;
// closures of existing open jobs; ends of running boost auctions, with their
// bids decided; the online path's refunds of what the day made owed, but for
// MissingPercent% left missing; balances moved to match. Every new event lies
// in (Anchor - Span, Anchor]. It is deterministic like Seed (ids are computed,
// draws are hashes of ids), and is how the benchmark measures an incremental
// run after a day.
func Activity(ctx context.Context, db *sqlx.DB, o ActivityOptions, log *zap.Logger) (ActivityStats, error) {
	start := time.Now()
	if o.Span == 0 {
		o.Span = 24 * time.Hour
	}
	if o.Percent == 0 {
		o.Percent = 1
	}
	policy := reconcile.DefaultPolicy()
	if o.Policy != nil {
		policy = *o.Policy
	}
	switch {
	case o.Span < 0:
		return ActivityStats{}, fmt.Errorf("activity: span must be positive, not %s", o.Span)
	case o.Percent < 0 || o.Percent > 100:
		return ActivityStats{}, fmt.Errorf("activity: percent must be between 0 and 100, not %g", o.Percent)
	case o.MissingPercent < 0 || o.MissingPercent > 100:
		return ActivityStats{}, fmt.Errorf("activity: missing percent must be between 0 and 100, not %d", o.MissingPercent)
	}

	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return ActivityStats{}, fmt.Errorf("activity: %w", translate(err))
	}
	defer tx.Rollback()
	for _, set := range []string{"SET LOCAL TimeZone = 'UTC'", "SET LOCAL work_mem = '64MB'", "SET LOCAL jit = off"} {
		if _, err := tx.ExecContext(ctx, set); err != nil {
			return ActivityStats{}, fmt.Errorf("activity: %w", translate(err))
		}
	}
	anchor := o.Anchor
	if anchor.IsZero() {
		if err := tx.GetContext(ctx, &anchor, "SELECT date_trunc('second', now())"); err != nil {
			return ActivityStats{}, fmt.Errorf("activity: %w", translate(err))
		}
	}
	anchor = anchor.UTC()
	st := ActivityStats{Anchor: anchor}
	day := []any{o.Seed, anchor, o.Span.Seconds(), o.Percent}
	steps := []struct {
		name string
		q    string
		args []any
		into *int64
	}{
		{"base", qActivityBase, nil, nil},
		{"plan new jobs", qActivityJobs, day, nil},
		{"analyze", "ANALYZE activity_base, activity_jobs", nil, nil},
		{"new jobs", qActivityInsertJobs, nil, nil},
		{"new auctions", qActivityNewAuctions, nil, nil},
		{"pick closures", qActivityClosures, day, nil},
		{"close jobs", qActivityCloseJobs, nil, nil},
		{"pick auction ends", qActivityAuctionEnds, day, nil},
		{"end auctions", qActivityEndAuctions, []any{o.Seed}, &st.DecidedBids},
		{"proposals", qActivityProposals, []any{o.Seed, anchor}, nil},
		{"bids", qActivityBids, []any{o.Seed, anchor}, &st.NewBids},
		{"fees", qActivityFees, []any{o.Seed, anchor}, &st.Fees},
		{"interactions", qActivityInteractions, []any{o.Seed, anchor}, &st.Interactions},
		{"touched proposals", qActivityTouched, nil, nil},
		{"analyze touched", "ANALYZE activity_closed, activity_ended, activity_touched", nil, nil},
	}
	for _, s := range steps {
		t0 := time.Now()
		res, err := tx.ExecContext(ctx, s.q, s.args...)
		if err != nil {
			return ActivityStats{}, fmt.Errorf("activity %s: %w", s.name, translate(err))
		}
		n, err := res.RowsAffected()
		if err != nil {
			return ActivityStats{}, fmt.Errorf("activity %s: %w", s.name, translate(err))
		}
		if s.into != nil {
			*s.into = n
		}
		log.Debug("activity: "+s.name, zap.Int64("rows", n), zap.Duration("took", time.Since(t0)))
	}

	var online struct {
		Owed    int64 `db:"owed"`
		Written int64 `db:"written"`
	}
	args := append(policyArgs(policy, anchor.AddDate(100, 0, 0)), o.Seed, anchor, o.MissingPercent)
	if err := tx.GetContext(ctx, &online, qActivityOnlineRefunds, args...); err != nil {
		return ActivityStats{}, fmt.Errorf("activity online refunds: %w", translate(err))
	}
	st.RefundsOwed, st.OnlineRefunds, st.MissingRefunds = online.Owed, online.Written, online.Owed-online.Written
	for _, s := range []struct{ name, q string }{{"balances", qActivityBalances}, {"identity sequences", qActivitySequences}} {
		if _, err := tx.ExecContext(ctx, s.q); err != nil {
			return ActivityStats{}, fmt.Errorf("activity %s: %w", s.name, translate(err))
		}
	}
	if err := tx.GetContext(ctx, &st, qActivityStats); err != nil {
		return ActivityStats{}, fmt.Errorf("activity stats: %w", translate(err))
	}
	if err := tx.Commit(); err != nil {
		return ActivityStats{}, fmt.Errorf("activity commit: %w", translate(err))
	}
	st.TookMS = time.Since(start).Milliseconds()
	log.Info("activity: done", zap.Time("anchor", anchor), zap.Int64("new_proposals", st.NewProposals),
		zap.Int64("closures", st.Closures), zap.Int64("auction_ends", st.AuctionEnds),
		zap.Int64("refunds_owed", st.RefundsOwed), zap.Int64("missing_refunds", st.MissingRefunds),
		zap.Duration("took", time.Since(start)))
	return st, nil
}

// RewindWatermarks moves every watermark back by d, as if the last successful
// run had been d earlier: the benchmark's way to put a day of activity
// generated just now inside the next incremental run's window. For
// benchmarks and tests only.
func RewindWatermarks(ctx context.Context, db *sqlx.DB, d time.Duration) (int64, error) {
	res, err := db.ExecContext(ctx, qActivityRewind, d.Seconds())
	if err != nil {
		return 0, fmt.Errorf("rewind watermarks: %w", translate(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("rewind watermarks: %w", translate(err))
	}
	return n, nil
}
