package synth

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"go.uber.org/zap"
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
	// (on new jobs), Percent% of the jobs close, Percent% of the boost
	// auctions end and Percent% of the existing proposals get a late
	// interaction. 0 means 1.
	Percent float64
	// OfOpen, when set, shapes the day's closures and auction ends as shares
	// of what is open rather than Percent of all (issue 20's day); Percent
	// still sizes the new proposals and late interactions.
	OfOpen *OpenShape
	// MissingPercent (0..100) of the day's new owed refunds are left missing
	// for the job to find; the online path wrote the others. 100 is a day the
	// online path was down.
	MissingPercent int
}

// OpenShape is a day as shares (percent) of what is open: of the open jobs,
// how many close without a hire, are removed for a ToS violation, close
// hired; of the running auctions, how many end (besides those of the jobs
// hired that day, which end at the hire).
type OpenShape struct {
	NoHire, Removed, Hired, AuctionEnds float64
}

// Issue20Day is the day of issue 20: 2% of open jobs closed without hire,
// 0.2% removed, 2% hired, a tenth of running auctions ended.
var Issue20Day = OpenShape{NoHire: 2, Removed: 0.2, Hired: 2, AuctionEnds: 10}

// ActivityStats count what Activity wrote.
type ActivityStats struct {
	Anchor           time.Time `json:"anchor"`
	NewJobs          int64     `json:"new_jobs" db:"new_jobs"`
	NewProposals     int64     `json:"new_proposals" db:"new_proposals"`
	Closures         int64     `json:"closures" db:"closures"`
	AuctionEnds      int64     `json:"auction_ends" db:"auction_ends"`
	Touched          int64     `json:"touched_proposals" db:"touched"`
	NewBids          int64     `json:"new_bids"`
	DecidedBids      int64     `json:"decided_bids"`
	Fees             int64     `json:"fees"`
	Interactions     int64     `json:"interactions"`
	LateInteractions int64     `json:"late_interactions"`
	RefundsOwed      int64     `json:"refunds_owed"`
	OnlineRefunds    int64     `json:"online_refunds"`
	MissingRefunds   int64     `json:"missing_refunds"`
	TookMS           int64     `json:"took_ms"`
}

// Statements of a day of its own; the rest are shared with Seed.
var (
	qActivityJobs        = query("activity_jobs.sql")
	qActivityClosures    = files.Render("activity_closures.sql", struct{ OfOpen bool }{false})
	qActivityCloseJobs   = query("activity_close_jobs.sql")
	qActivityAuctionEnds = files.Render("activity_auction_ends.sql", struct{ OfOpen bool }{false})
	qActivityClosuresOf  = files.Render("activity_closures.sql", struct{ OfOpen bool }{true})
	qActivityEndsOf      = files.Render("activity_auction_ends.sql", struct{ OfOpen bool }{true})
	qActivityEndAuctions = query("activity_end_auctions.sql")
	qActivityLate        = query("activity_late_interactions.sql")
	qActivityCandidates  = query("activity_candidates.sql")
	qActivityStats       = query("activity_stats.sql")
	qRewind              = query("rewind_watermarks.sql")
)

// Activity adds one day of new marketplace activity to a seeded database, in
// one transaction, scattered over the whole id space as real traffic is:
// new jobs with proposals, fees, bids and interactions (the seed's own
// statements, on the day's plan); closures and removals of open jobs posted
// any time before (the seed posts over 100 days); ends of running boost
// auctions, with their bids decided; late interactions with proposals of
// any age; the online path's refunds of what the day made owed, but for
// MissingPercent% left missing; balances moved to match. Every new event lies
// in (Anchor - Span, Anchor]. It is deterministic like Seed (ids are
// computed, draws are hashes of ids), and is how the benchmark measures an
// incremental run after a day.
func Activity(ctx context.Context, db *sqlx.DB, o ActivityOptions, log *zap.Logger) (ActivityStats, error) {
	start := time.Now()
	if o.Span == 0 {
		o.Span = 24 * time.Hour
	}
	if o.Percent == 0 {
		o.Percent = 1
	}
	switch {
	case o.Span < 0:
		return ActivityStats{}, fmt.Errorf("activity: span must be positive, not %s", o.Span)
	case o.Percent < 0 || o.Percent > 100:
		return ActivityStats{}, fmt.Errorf("activity: percent must be between 0 and 100, not %g", o.Percent)
	case o.OfOpen != nil && (o.OfOpen.NoHire < 0 || o.OfOpen.Removed < 0 || o.OfOpen.Hired < 0 || o.OfOpen.AuctionEnds < 0 ||
		o.OfOpen.NoHire+o.OfOpen.Removed+o.OfOpen.Hired > 100 || o.OfOpen.AuctionEnds > 100):
		return ActivityStats{}, fmt.Errorf("activity: shares of what is open must be between 0 and 100 in all, not %+v", *o.OfOpen)
	case o.MissingPercent < 0 || o.MissingPercent > 100:
		return ActivityStats{}, fmt.Errorf("activity: missing percent must be between 0 and 100, not %d", o.MissingPercent)
	}

	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return ActivityStats{}, fmt.Errorf("activity: %w", err)
	}
	defer tx.Rollback()
	if err := setLocal(ctx, tx, "64MB"); err != nil {
		return ActivityStats{}, fmt.Errorf("activity: %w", err)
	}
	anchor := o.Anchor
	if anchor.IsZero() {
		if err := tx.GetContext(ctx, &anchor, qAnchor); err != nil {
			return ActivityStats{}, fmt.Errorf("activity: %w", err)
		}
	}
	anchor = anchor.UTC()
	st := ActivityStats{Anchor: anchor}
	day := []any{o.Seed, anchor, o.Span.Seconds(), o.Percent}
	gen := []any{o.Seed, anchor}
	closures, closuresArgs := qActivityClosures, day
	ends, endsArgs := qActivityAuctionEnds, day
	if sh := o.OfOpen; sh != nil {
		closures, closuresArgs = qActivityClosuresOf, []any{o.Seed, anchor, o.Span.Seconds(), sh.NoHire, sh.Removed, sh.Hired}
		ends, endsArgs = qActivityEndsOf, []any{o.Seed, anchor, o.Span.Seconds(), sh.AuctionEnds}
	}
	steps := []step{
		{"base", qBase, []any{nil}, nil},
		{"plan new jobs", qActivityJobs, day, nil},
		{"analyze", "ANALYZE synth_base, synth_jobs", nil, nil},
		{"new jobs", qInsertJobs, nil, nil},
		{"new auctions", qAuctions, nil, nil},
		{"pick closures", closures, closuresArgs, nil},
		{"close jobs", qActivityCloseJobs, nil, nil},
		{"pick auction ends", ends, endsArgs, nil},
		{"end auctions", qActivityEndAuctions, []any{o.Seed}, &st.DecidedBids},
		{"proposals", qProposals, gen, nil},
		{"bids", qBids, gen, &st.NewBids},
		{"fees", qFees, gen, &st.Fees},
		{"interactions", qInteractions, gen, &st.Interactions},
		{"late interactions", qActivityLate, day, &st.LateInteractions},
		{"candidates", qActivityCandidates, nil, nil},
		{"analyze candidates", "ANALYZE activity_closed, activity_ended, synth_candidates", nil, nil},
	}
	if err := runSteps(ctx, tx, "activity", steps, log); err != nil {
		return ActivityStats{}, err
	}
	owed, written, _, err := onlineRefunds(ctx, tx, o.Seed, anchor, o.MissingPercent, 0)
	if err != nil {
		return ActivityStats{}, fmt.Errorf("activity: %w", err)
	}
	st.RefundsOwed, st.OnlineRefunds, st.MissingRefunds = owed, written, owed-written
	if err := runSteps(ctx, tx, "activity", []step{{"balances", qBalances, nil, nil}, {"identity sequences", qSequences, nil, nil}}, log); err != nil {
		return ActivityStats{}, err
	}
	if err := tx.GetContext(ctx, &st, qActivityStats); err != nil {
		return ActivityStats{}, fmt.Errorf("activity stats: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return ActivityStats{}, fmt.Errorf("activity commit: %w", err)
	}
	st.TookMS = time.Since(start).Milliseconds()
	log.Info("activity: done", zap.Time("anchor", anchor), zap.Int64("new_proposals", st.NewProposals),
		zap.Int64("closures", st.Closures), zap.Int64("auction_ends", st.AuctionEnds),
		zap.Int64("late_interactions", st.LateInteractions),
		zap.Int64("refunds_owed", st.RefundsOwed), zap.Int64("missing_refunds", st.MissingRefunds),
		zap.Duration("took", time.Since(start)))
	return st, nil
}

// RewindWatermarks moves every watermark back by d, as if the last successful
// run had been d earlier: the benchmark's way to put a day of activity
// generated just now inside the next incremental run's window.
func RewindWatermarks(ctx context.Context, db *sqlx.DB, d time.Duration) (int64, error) {
	res, err := db.ExecContext(ctx, qRewind, d.Seconds())
	if err != nil {
		return 0, fmt.Errorf("rewind watermarks: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("rewind watermarks: %w", err)
	}
	return n, nil
}
