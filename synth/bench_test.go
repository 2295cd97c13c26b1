package synth_test

import (
	"context"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"go.uber.org/zap/zaptest"

	"github.com/connects/connects-reconciler/reconcile"
	"github.com/connects/connects-reconciler/reconcile/postgres"
	"github.com/connects/connects-reconciler/reconcile/postgres/pgtest"
	"github.com/connects/connects-reconciler/synth"
)

// benchSeeded returns a fresh database with a small seeded marketplace.
func benchSeeded(t *testing.T, proposals int64, anchor time.Time) (*sqlx.DB, synth.SeedStats) {
	t.Helper()
	db := pgtest.NewDB(t)
	st, err := synth.Seed(context.Background(), db, synth.SeedOptions{
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

// Both reference statements, the plain one (the contract's rules written
// apart from the job's policy) and the job's policy fragment as one
// statement, write exactly the refunds a full run writes, and those are the
// ones the seed left missing; after a backlog (most online refunds taken
// away) too.
func TestReferencesWriteWhatARunWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	anchor := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, backlog := range []float64{0, 50} {
		plain, st := benchSeeded(t, 4000, anchor)
		fragment, _ := benchSeeded(t, 4000, anchor)
		job, _ := benchSeeded(t, 4000, anchor)
		missing := st.MissingRefunds
		for _, db := range []*sqlx.DB{plain, fragment, job} {
			n, err := synth.Backlog(ctx, db, 1, backlog)
			if err != nil {
				t.Fatal(err)
			}
			if db == job {
				missing += n // an upper bound: a planted unexpected refund taken away is not owed
			}
			checkBalances(t, db)
		}
		before, err := synth.RefundFingerprint(ctx, plain)
		if err != nil {
			t.Fatal(err)
		}
		var now time.Time
		if err := plain.Get(&now, `SELECT now()`); err != nil {
			t.Fatal(err)
		}
		p, err := synth.PlainReference(ctx, plain, now)
		if err != nil {
			t.Fatalf("plain reference: %v", err)
		}
		f, err := synth.FragmentReference(ctx, fragment, reconcile.DefaultPolicy(), now)
		if err != nil {
			t.Fatalf("fragment reference: %v", err)
		}
		res := fullRun(t, job, true)
		issued := res.Issued()
		if p.Refunds == 0 || p.Refunds > missing || (backlog == 0 && p.Refunds != missing) || p != f || p.Refunds != issued.Refunds || p.Connects != issued.Connects {
			t.Fatalf("backlog %g%%: plain reference wrote %+v, fragment %+v; the run %d refunds, %d Connects; at most %d missing; want equal and not zero",
				backlog, p, f, issued.Refunds, issued.Connects, missing)
		}
		var prints [3]synth.Fingerprint
		for i, db := range []*sqlx.DB{plain, fragment, job} {
			if prints[i], err = synth.RefundFingerprint(ctx, db); err != nil {
				t.Fatal(err)
			}
			checkBalances(t, db) // balances moved with the refunds
		}
		if prints[0] != prints[1] || prints[0] != prints[2] || prints[0].Refunds != before.Refunds+p.Refunds {
			t.Fatalf("fingerprints: plain %+v, fragment %+v, run %+v, before %+v; want equal, %d more than before",
				prints[0], prints[1], prints[2], before, p.Refunds)
		}
		if backlog > 0 && p.Refunds < 2*st.MissingRefunds {
			t.Fatalf("backlog %g%%: %d refunds written, the seed left %d missing; want many more", backlog, p.Refunds, st.MissingRefunds)
		}
		// A second reference finds nothing.
		if again, err := synth.PlainReference(ctx, plain, now); err != nil || again.Refunds != 0 {
			t.Fatalf("second plain reference: wrote %+v, err %v; want 0, nil", again, err)
		}
		if again, err := synth.FragmentReference(ctx, fragment, reconcile.DefaultPolicy(), now); err != nil || again.Refunds != 0 {
			t.Fatalf("second fragment reference: wrote %+v, err %v; want 0, nil", again, err)
		}
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
	if n, err := synth.RewindWatermarks(ctx, db, 24*time.Hour); err != nil || n != 2 {
		t.Fatalf("rewind: %d watermarks, err %v; want 2, nil", n, err)
	}
	opts := synth.ActivityOptions{Seed: 3, Anchor: now, Span: 24 * time.Hour, Percent: 2, MissingPercent: 30}
	st, err := synth.Activity(ctx, db, opts, zaptest.NewLogger(t))
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
	// Scattered over the whole id space: the day closed jobs posted a month
	// and more before it, and late interactions reached proposals of the
	// oldest tenth of the ids.
	var old, lateOld int64
	if err := db.Get(&old, `SELECT count(*) FROM jobs j WHERE j.closed_at > $1::timestamptz - interval '1 day'
	    AND (SELECT min(p.submitted_at) FROM proposals p WHERE p.job_id = j.id) < $1::timestamptz - interval '30 days'`, now); err != nil {
		t.Fatal(err)
	}
	if err := db.Get(&lateOld, `SELECT count(*) FROM proposal_interactions i
	    WHERE i.occurred_at > $1::timestamptz - interval '1 day' AND i.proposal_id < (SELECT max(id) / 10 FROM proposals)`, now); err != nil {
		t.Fatal(err)
	}
	if old == 0 || lateOld == 0 || st.LateInteractions == 0 {
		t.Fatalf("closures of jobs posted over 30 days ago: %d; interactions of the day on the oldest tenth of proposals: %d; late interactions %d; want some of each",
			old, lateOld, st.LateInteractions)
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
	got, want := res.Issued(), plan.Totals()
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
		if _, err := synth.Activity(ctx, d, opts, zaptest.NewLogger(t)); err != nil {
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
