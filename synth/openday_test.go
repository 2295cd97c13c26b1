package synth_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/connects/connects-reconciler/synth"
)

// Issue 20's day closes shares of the open jobs with its own mix of reasons
// and ends a share of the running auctions: on a marketplace of 20,000
// proposals, 2% of the open jobs close without a hire and 2% hired, 0.2%
// are removed (by hash draws, so about that), and about a tenth of the
// running auctions end besides the hired jobs'. Balances stay exact.
func TestActivityOpenShares(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := benchSeeded(t, 20000, time.Now().UTC().Add(-48*time.Hour).Truncate(time.Second))
	var open, running, lastJob int64
	if err := db.Get(&lastJob, `SELECT max(id) FROM jobs`); err != nil {
		t.Fatal(err)
	}
	if err := db.Get(&open, `SELECT count(*) FROM jobs WHERE status = 'open'`); err != nil {
		t.Fatal(err)
	}
	if err := db.Get(&running, `SELECT count(*) FROM boost_auctions WHERE ended_at IS NULL`); err != nil {
		t.Fatal(err)
	}
	var now time.Time
	if err := db.Get(&now, `SELECT date_trunc('second', now()) - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	shape := synth.OpenShape{NoHire: 20, Removed: 2, Hired: 20, AuctionEnds: 30} // large shares: a small marketplace
	st, err := synth.Activity(ctx, db, synth.ActivityOptions{Seed: 5, Anchor: now, Span: 24 * time.Hour, Percent: 1,
		MissingPercent: 5, OfOpen: &shape}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("activity: %v", err)
	}
	var byReason struct {
		NoHire  int64 `db:"no_hire"`
		Hired   int64 `db:"hired"`
		Removed int64 `db:"removed"`
		Other   int64 `db:"other"`
	}
	if err := db.Get(&byReason, `SELECT count(*) FILTER (WHERE close_reason = 'no_hire') AS no_hire,
	        count(*) FILTER (WHERE close_reason = 'hired') AS hired,
	        count(*) FILTER (WHERE status = 'removed' AND close_reason = 'tos_violation') AS removed,
	        count(*) FILTER (WHERE close_reason NOT IN ('no_hire', 'hired', 'tos_violation')) AS other
	    FROM jobs WHERE closed_at > $1::timestamptz - interval '1 day' AND id <= $2`, now, lastJob); err != nil {
		t.Fatal(err)
	}
	near := func(got int64, pct float64) bool {
		want := float64(open) * pct / 100
		return float64(got) > want*0.6 && float64(got) < want*1.4+3
	}
	if !near(byReason.NoHire, shape.NoHire) || !near(byReason.Hired, shape.Hired) || byReason.Other != 0 ||
		byReason.Removed > byReason.NoHire/3 || st.Closures != byReason.NoHire+byReason.Hired+byReason.Removed {
		t.Errorf("of %d open jobs the day closed %+v (%d closures); want about %.0f%% without a hire, %.0f%% hired, a few removed, nothing else",
			open, byReason, st.Closures, shape.NoHire, shape.Hired)
	}
	if float64(st.AuctionEnds) < float64(running)*shape.AuctionEnds/100*0.6 || st.AuctionEnds > running {
		t.Errorf("of %d running auctions %d ended; want about %.0f%% or more (the hired jobs')", running, st.AuctionEnds, shape.AuctionEnds)
	}
	checkBalances(t, db)
	t.Logf("%d open jobs, %d running auctions: %+v closed, %d auctions ended, %d refunds owed", open, running, byReason, st.AuctionEnds, st.RefundsOwed)
}
