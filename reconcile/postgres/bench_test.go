package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"go.uber.org/zap/zaptest"

	"github.com/connects/connects-reconciler/reconcile"
	"github.com/connects/connects-reconciler/reconcile/postgres"
	"github.com/connects/connects-reconciler/reconcile/postgres/pgtest"
)

// benchSeeded returns a fresh database with a small seeded marketplace.
func benchSeeded(t *testing.T, proposals int64, anchor time.Time) (*sqlx.DB, postgres.SeedStats) {
	t.Helper()
	db := pgtest.NewDB(t)
	st, err := postgres.Seed(context.Background(), db, postgres.SeedOptions{
		Seed: 7, Proposals: proposals, Anchor: anchor, MissingPercent: 20,
	}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	return db, st
}

func fullRun(t *testing.T, db *sqlx.DB, full bool) *reconcile.Result {
	t.Helper()
	p := reconcile.DefaultPolicy()
	p.SettleDelay = 0
	log := zaptest.NewLogger(t)
	r := &reconcile.Reconciler{
		Store: postgres.NewStore(db, log), Policy: p, Log: log,
		Options: reconcile.Options{BatchSize: 700, ApplyBatchSize: 50, Retries: 1, RetryBackoff: time.Millisecond,
			Full: full, Lookback: time.Hour},
	}
	res, err := r.Run(context.Background(), "bench-test-"+time.Now().Format("150405.000000000"))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return res
}

// The benchmark's reference statement writes exactly the refunds a full run
// writes, and those are the ones the seed left missing.
func TestReferenceWritesWhatARunWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	anchor := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ref, st := benchSeeded(t, 4000, anchor)
	job, _ := benchSeeded(t, 4000, anchor)
	before, err := postgres.RefundFingerprint(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}

	var now time.Time
	if err := ref.Get(&now, `SELECT now()`); err != nil {
		t.Fatal(err)
	}
	wrote, connects, err := postgres.Reference(ctx, ref, reconcile.DefaultPolicy(), now)
	if err != nil {
		t.Fatalf("reference: %v", err)
	}
	res := fullRun(t, job, true)
	issued := reconcile.Sum(issuedOf(t, res), nil)
	if wrote == 0 || wrote != st.MissingRefunds || wrote != issued.Refunds || connects != issued.Connects {
		t.Fatalf("reference wrote %d refunds, %d Connects; the run %d, %d; the seed left %d missing; want equal and not zero",
			wrote, connects, issued.Refunds, issued.Connects, st.MissingRefunds)
	}
	a, err := postgres.RefundFingerprint(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	b, err := postgres.RefundFingerprint(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	if a != b || a.Refunds != before.Refunds+wrote {
		t.Fatalf("fingerprints: reference %+v, run %+v, before %+v; want equal, %d more than before", a, b, before, wrote)
	}
	// Balances moved with the refunds.
	checkBalances(t, ref)
	// A second reference finds nothing.
	if again, _, err := postgres.Reference(ctx, ref, reconcile.DefaultPolicy(), now); err != nil || again != 0 {
		t.Fatalf("second reference: wrote %d, err %v; want 0, nil", again, err)
	}
}

func checkBalances(t *testing.T, db *sqlx.DB) {
	t.Helper()
	var off int64
	if err := db.Get(&off, `SELECT count(*) FROM connects_balances b
	    FULL JOIN (SELECT freelancer_id, sum(amount) AS s FROM connects_ledger GROUP BY freelancer_id) l USING (freelancer_id)
	    WHERE b.balance IS DISTINCT FROM l.s`); err != nil {
		t.Fatal(err)
	}
	if off != 0 {
		t.Fatalf("balances that differ from their ledger sum: got %d, want 0", off)
	}
}

// A day of activity is deterministic, keeps balances equal to ledger sums,
// puts its events inside the next incremental run's window, and that run
// writes exactly what a full plan finds: the day's missing refunds.
func TestActivityDay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var now time.Time
	db, _ := benchSeeded(t, 6000, time.Now().UTC().Add(-48*time.Hour).Truncate(time.Second))
	if err := db.Get(&now, `SELECT date_trunc('second', now()) - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	fullRun(t, db, true) // leaves the watermarks
	if n, err := postgres.RewindWatermarks(ctx, db, 24*time.Hour); err != nil || n != 2 {
		t.Fatalf("rewind: %d watermarks, err %v; want 2, nil", n, err)
	}
	opts := postgres.ActivityOptions{Seed: 3, Anchor: now, Span: 24 * time.Hour, Percent: 2, MissingPercent: 30}
	st, err := postgres.Activity(ctx, db, opts, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("activity: %v", err)
	}
	if st.NewProposals != 120 || st.NewJobs == 0 || st.Closures == 0 || st.RefundsOwed == 0 || st.MissingRefunds == 0 {
		t.Fatalf("activity: got %+v; want 120 new proposals (2%%), new jobs, closures, owed and missing refunds", st)
	}
	checkBalances(t, db)
	var outside int64
	if err := db.Get(&outside, `SELECT count(*) FROM jobs WHERE closed_at > $1`, now); err != nil {
		t.Fatal(err)
	}
	if outside != 0 {
		t.Fatalf("jobs closed after the anchor: got %d, want 0", outside)
	}

	p := reconcile.DefaultPolicy()
	p.SettleDelay = 0
	full := &reconcile.Reconciler{Store: postgres.NewStore(db, zaptest.NewLogger(t)), Policy: p,
		Options: reconcile.Options{BatchSize: 700, Full: true}}
	plan, err := full.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res := fullRun(t, db, false)
	if res.Plan.Scope != "incremental" {
		t.Fatalf("scope: got %s, want incremental", res.Plan.Scope)
	}
	got, want := reconcile.Sum(issuedOf(t, res), nil), plan.Totals()
	if got.Refunds != want.Refunds || got.Connects != want.Connects || got.Refunds != st.MissingRefunds {
		t.Fatalf("incremental wrote %d refunds (%d Connects); a full plan had %d (%d), the day left %d missing",
			got.Refunds, got.Connects, want.Refunds, want.Connects, st.MissingRefunds)
	}

	// The same state, seed and anchor give the same day.
	a, _ := benchSeeded(t, 6000, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	b, _ := benchSeeded(t, 6000, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	opts.Anchor = time.Date(2026, 3, 3, 12, 0, 0, 0, time.UTC)
	var sums [2]string
	for i, d := range []*sqlx.DB{a, b} {
		if _, err := postgres.Activity(ctx, d, opts, zaptest.NewLogger(t)); err != nil {
			t.Fatalf("activity: %v", err)
		}
		if err := d.Get(&sums[i], `SELECT md5(
		    (SELECT string_agg(concat_ws(',', id, job_id, freelancer_id, submitted_at, withdrawn_at), ';' ORDER BY id) FROM proposals) ||
		    (SELECT string_agg(concat_ws(',', id, status, close_reason, closed_at), ';' ORDER BY id) FROM jobs) ||
		    (SELECT string_agg(concat_ws(',', job_id, ended_at), ';' ORDER BY job_id) FROM boost_auctions) ||
		    (SELECT string_agg(concat_ws(',', proposal_id, outcome, outbid_at), ';' ORDER BY proposal_id) FROM boost_bids) ||
		    (SELECT string_agg(concat_ws(',', id, kind, occurred_at), ';' ORDER BY id) FROM proposal_interactions) ||
		    (SELECT string_agg(concat_ws(',', id, idempotency_key, amount, created_at), ';' ORDER BY id) FROM connects_ledger))`); err != nil {
			t.Fatal(err)
		}
	}
	if sums[0] != sums[1] {
		t.Fatalf("two days from the same state: got %s and %s, want equal", sums[0], sums[1])
	}
}
