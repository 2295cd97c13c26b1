package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/connects/connects-reconciler/reconcile"
	"github.com/connects/connects-reconciler/reconcile/postgres"
)

// A full sweep is on record exactly when its run is recorded finished, in
// the same transaction: a succeeded or refused full sweep records its totals
// per state (missing and pending apart) and the open exceptions of its
// shard by age; an incremental run records nothing; a record that cannot be
// written leaves the run unfinished rather than finished without it. What
// is recorded is what LastSweep reads, every shard's added up.
func TestSweepRecordedWithTheRunsFinish(t *testing.T) {
	t.Parallel()
	m := newMarket(t)
	m.job(1, "open", "", nil)
	m.job(2, "closed", "no_hire", ago(2*time.Hour))
	m.job(3, "closed", "no_hire", ago(time.Minute)) // inside the settle delay
	for f := int64(1); f <= 6; f++ {
		m.proposal(f, 1, f, nil)
		m.fee(f, f, "base", 3)
		m.entry(f, 3, "refund", f, "base", "") // an online refund on an open job: unexpected_refund
	}
	m.proposal(100, 2, 100, nil)
	m.fee(100, 100, "base", 5) // missing
	m.proposal(101, 2, 101, nil)
	m.fee(101, 101, "base", 4) // missing
	m.proposal(102, 3, 102, nil)
	m.fee(102, 102, "base", 7) // pending
	ctx := context.Background()
	store := postgres.NewStore(m.db, zaptest.NewLogger(t))
	states := func(run string) map[reconcile.State]reconcile.SweepState {
		t.Helper()
		rec, err := store.LastSweep(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rec == nil || len(rec.Runs) == 0 || rec.Runs[len(rec.Runs)-1].RunID != run && rec.Runs[0].RunID != run {
			t.Fatalf("last sweep: %+v, want run %s's", rec, run)
		}
		out := map[reconcile.State]reconcile.SweepState{}
		for _, s := range rec.States {
			out[s.State] = s
		}
		return out
	}

	// Refused: recorded, all its missing refunds left.
	r := m.reconciler(reconcile.DefaultPolicy())
	r.Limits = reconcile.Limits{MaxRefunds: 1}
	refused := runID("sweep-refused")
	res, err := r.Run(ctx, refused)
	var limit *reconcile.LimitError
	if !errors.As(err, &limit) {
		t.Fatalf("want a refusal, got %v", err)
	}
	res.Close()
	got := states(refused)
	if x := got[reconcile.MissingRefund]; x.Count != 2 || x.Connects != 9 || x.OldestEventAt == nil {
		t.Errorf("missing_refund: %+v, want 2 refunds of 9 Connects with their oldest event", x)
	}
	if x := got[reconcile.PendingRefund]; x.Count != 1 || x.Connects != 7 {
		t.Errorf("pending_refund: %+v, want 1 of 7 Connects, apart from the missing", x)
	}
	if x := got[reconcile.UnexpectedRefund]; x.Count != 6 || x.Connects != -18 || x.Open != 6 || x.Unacknowledged != 6 || x.OldestSince == nil {
		t.Errorf("unexpected_refund: %+v, want 6 found (-18), 6 open unacknowledged", x)
	}

	// Succeeded, then an incremental run: the full sweep stays the last.
	r.Limits = reconcile.Limits{}
	full := runID("sweep-full")
	if res, err = r.Run(ctx, full); err != nil {
		t.Fatal(err)
	}
	res.Close()
	rec, err := store.LastSweep(ctx, nil)
	if err != nil || rec == nil || rec.Runs[0].Status != reconcile.StatusSucceeded {
		t.Fatalf("last sweep after a full run: %+v, %v", rec, err)
	}
	if planned, issued, _ := rec.Issued(); planned.Refunds != 2 || issued.Refunds != 2 || issued.Connects != 9 {
		t.Errorf("the sweep planned %+v and wrote %+v; want 2 refunds, 9 Connects", planned, issued)
	}
	r.Options.Full = false
	if res, err = r.Run(ctx, runID("sweep-incr")); err != nil {
		t.Fatal(err)
	}
	res.Close()
	states(full)
	var n int
	m.db.Get(&n, `SELECT count(*) FROM reconciler_sweeps`)
	if n != 2 {
		t.Errorf("%d sweeps on record, want the refused and the full one", n)
	}

	// By a time before the full sweep finished: the refused one.
	var refusedAt time.Time
	m.db.Get(&refusedAt, `SELECT recorded_at FROM reconciler_sweeps WHERE run_id = $1`, refused)
	if rec, err := store.LastSweep(ctx, &refusedAt); err != nil || rec == nil || rec.Runs[0].RunID != refused {
		t.Errorf("last sweep by %s: %+v, %v; want %s", refusedAt, rec, err, refused)
	}

	// A record that cannot be written: the run's finish is rolled back too.
	blocked := runID("sweep-blocked")
	m.db.MustExec(`CREATE FUNCTION refuse_sweep() RETURNS trigger LANGUAGE plpgsql AS $$
	    BEGIN RAISE EXCEPTION 'no sweep today'; END $$;
	    CREATE TRIGGER refuse_sweep BEFORE INSERT ON reconciler_sweeps FOR EACH ROW EXECUTE FUNCTION refuse_sweep();`)
	r.Options.Full = true
	if res, err = r.Run(ctx, blocked); err == nil {
		t.Fatal("a run whose sweep could not be recorded succeeded")
	}
	if res != nil {
		res.Close()
	}
	var status string
	m.db.Get(&status, `SELECT status FROM reconciler_runs WHERE id = $1`, blocked)
	if status != reconcile.StatusRunning {
		t.Errorf("the run is %q: its finish was committed without its sweep's record", status)
	}
}

// Sharded sweeps: the last full sweep is the last of each shard of the same
// count, added up, each shard's open exceptions counted once.
func TestSweepRecordOfShards(t *testing.T) {
	t.Parallel()
	m := newMarket(t)
	m.job(1, "open", "", nil)
	for f := int64(1); f <= 8; f++ {
		m.proposal(f, 1, f, nil)
		m.fee(f, f, "base", 3)
		m.entry(f, 3, "refund", f, "base", "") // unexpected_refund, one per account
	}
	ctx := context.Background()
	var runs []string
	for i := range 2 {
		r := m.reconciler(reconcile.DefaultPolicy())
		r.Options.Shard = reconcile.Shard{Index: i, Count: 2}
		id := runID("sweep-shard")
		res, err := r.Run(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		res.Close()
		runs = append(runs, id)
	}
	rec, err := postgres.NewStore(m.db, zaptest.NewLogger(t)).LastSweep(ctx, nil)
	if err != nil || rec == nil {
		t.Fatalf("last sweep: %+v, %v", rec, err)
	}
	if len(rec.Runs) != 2 || rec.Runs[0].Shard != "0/2" || rec.Runs[1].Shard != "1/2" {
		t.Errorf("last sweep's runs: %+v, want shards 0/2 and 1/2 (%v)", rec.Runs, runs)
	}
	if x := rec.State(reconcile.UnexpectedRefund); x.Count != 8 || x.Open != 8 || x.Connects != -24 {
		t.Errorf("unexpected_refund over the shards: %+v, want 8 found and 8 open, -24 Connects", x)
	}
}
