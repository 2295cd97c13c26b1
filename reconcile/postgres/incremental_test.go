package postgres_test

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/connects/connects-reconciler/reconcile"
	"github.com/connects/connects-reconciler/reconcile/postgres"
	"github.com/connects/connects-reconciler/reconcile/postgres/pgtest"
	"github.com/connects/connects-reconciler/synth"
)

func watermark(t *testing.T, m *market) *time.Time {
	t.Helper()
	var w []time.Time
	if err := m.db.Select(&w, `SELECT watermark FROM reconciler_watermarks WHERE shard = '' ORDER BY source`); err != nil {
		t.Fatal(err)
	}
	if len(w) == 0 {
		return nil
	}
	if len(w) != 2 || !w[0].Equal(w[1]) {
		t.Fatalf("watermarks: got %v, want one per source, equal", w)
	}
	return &w[0]
}

// incrementalReconciler reconciles what changed (a full sweep when nothing
// succeeded yet), with no settle delay and a lookback of an hour.
func incrementalReconciler(m *market) *reconcile.Reconciler {
	p := reconcile.DefaultPolicy()
	p.SettleDelay = 0
	r := m.reconciler(p)
	r.Options.Full = false
	r.Options.Lookback = time.Hour
	return r
}

// An incremental run reconciles what changed since the last successful run,
// including events that committed late within the lookback, and nothing
// else; a refused run does not move the watermark; --full finds the rest.
func TestIncrementalRuns(t *testing.T) {
	t.Parallel()
	m := newMarket(t)
	incremental := func() *reconcile.Reconciler { return incrementalReconciler(m) }
	ctx := context.Background()

	m.job(1, "closed", "no_hire", ago(48*h))
	m.proposal(10, 1, 100, nil)
	m.fee(100, 10, "base", 4)
	res, err := incremental().Run(ctx, "first")
	if err != nil {
		t.Fatalf("first run: %v", err)
	}
	if res.Plan.Scope != "full" || len(issuedOf(t, res)) != 1 {
		t.Fatalf("first run (no watermark: full): err %v, scope %s, issued %d; want full, 1", err, res.Plan.Scope, len(issuedOf(t, res)))
	}
	first := watermark(t, m)
	if first == nil || !first.Equal(res.Plan.SettleCutoff) {
		t.Fatalf("watermark after first run: got %v, want the run's cutoff %v", first, res.Plan.SettleCutoff)
	}

	// New activity, as seen from now: a closure after the watermark, an
	// auction end committed late (timestamp 30 minutes before the watermark,
	// inside the lookback), and an old closure the online path "forgot" that
	// only a full sweep can find.
	m.now = *first
	m.job(2, "closed", "no_hire", ago(0))
	m.proposal(20, 2, 101, nil)
	m.fee(101, 20, "base", 4)
	m.job(3, "open", "", nil)
	m.auction(3, ago(30*min1))
	m.proposal(30, 3, 102, nil)
	m.fee(102, 30, "boost", 5)
	m.bid(30, "outbid", ago(40*min1))
	m.job(4, "closed", "no_hire", ago(3*h))
	m.proposal(40, 4, 103, nil)
	m.fee(103, 40, "base", 4)

	refused := incremental()
	refused.Limits = reconcile.Limits{MaxRefunds: 1}
	if _, err := refused.Run(ctx, "refused"); err == nil {
		t.Fatal("a run over its limit must be refused")
	}
	if w := watermark(t, m); !w.Equal(*first) {
		t.Fatalf("a refused run moved the watermark from %v to %v", first, w)
	}

	res, err = incremental().Run(ctx, "second")
	if err != nil || res.Plan.Scope != "incremental" {
		t.Fatalf("second run: err %v, scope %s", err, res.Plan.Scope)
	}
	if got, want := issuedKeys(issuedOf(t, res)), []string{"20/base", "30/boost"}; !reflect.DeepEqual(got, want) {
		t.Errorf("incremental run wrote %v, want %v", got, want)
	}
	noop, err := incremental().Run(ctx, "noop")
	if err != nil || len(refundsOf(t, noop.Plan)) != 0 {
		t.Errorf("no-op incremental run: err %v, planned %d", err, len(refundsOf(t, noop.Plan)))
	}
	full := incrementalReconciler(m)
	full.Options.Full = true
	res, err = full.Run(ctx, "full")
	if err != nil || res.Plan.Scope != "full" {
		t.Fatalf("full run: err %v", err)
	}
	if got, want := issuedKeys(issuedOf(t, res)), []string{"40/base"}; !reflect.DeepEqual(got, want) {
		t.Errorf("full sweep wrote %v, want %v", got, want)
	}
	m.checkBalances()
}

func issuedKeys(rs []reconcile.Refund) []string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%d/%s", r.ProposalID, r.Component))
	}
	sort.Strings(out)
	return out
}

// seeded returns a fresh database with a seeded marketplace.
func seeded(t *testing.T, proposals int64, seed int64) *market {
	t.Helper()
	m := newMarket(t)
	m.batch = 700
	anchor := m.now.Add(-time.Hour).Truncate(time.Second)
	if _, err := synth.Seed(context.Background(), m.db, synth.SeedOptions{
		Seed: seed, Proposals: proposals, Anchor: anchor, MissingPercent: 5,
	}, zaptest.NewLogger(t)); err != nil {
		t.Fatalf("seed: %v", err)
	}
	return m
}

// Shards are disjoint, together they are the unsharded plan, and run in
// parallel they write exactly what one unsharded run writes.
func TestShardsPartitionTheWork(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := seeded(t, 6000, 7)
	b := pgtest.NewDB(t)
	// b is a byte-identical copy of a's marketplace, made by the same seed.
	bm := &market{t: t, db: b, ctx: ctx, now: a.now, batch: 700}
	if _, err := synth.Seed(ctx, b, synth.SeedOptions{Seed: 7, Proposals: 6000, Anchor: a.now.Add(-time.Hour).Truncate(time.Second), MissingPercent: 5}, zaptest.NewLogger(t)); err != nil {
		t.Fatal(err)
	}

	whole, err := a.reconciler(reconcile.DefaultPolicy()).Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(refundsOf(t, whole)) == 0 {
		t.Fatal("the seeded marketplace owes nothing: the test would prove nothing")
	}
	const n = 3
	seen := map[string]int{}
	var union []string
	for i := 0; i < n; i++ {
		r := a.reconciler(reconcile.DefaultPolicy())
		r.Options.Shard = reconcile.Shard{Index: i, Count: n}
		part, err := r.Plan(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range refundsOf(t, part) {
			k := fmt.Sprintf("%d/%s@%d", f.ProposalID, f.Component, f.FreelancerID)
			seen[k]++
			union = append(union, k)
		}
	}
	for k, c := range seen {
		if c > 1 {
			t.Errorf("%s planned by %d shards", k, c)
		}
	}
	var want []string
	for _, f := range refundsOf(t, whole) {
		want = append(want, fmt.Sprintf("%d/%s@%d", f.ProposalID, f.Component, f.FreelancerID))
	}
	sort.Strings(union)
	sort.Strings(want)
	if !reflect.DeepEqual(union, want) {
		t.Fatalf("shards planned %d refunds together, the whole plan %d", len(union), len(want))
	}

	// Run the shards in parallel on a, one unsharded run on b: same ledger.
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			r := a.reconciler(reconcile.DefaultPolicy())
			r.Options.Shard = reconcile.Shard{Index: i, Count: n}
			_, err := r.Run(ctx, fmt.Sprintf("shard-%d", i))
			errs <- err
		}()
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("shard run: %v", err)
		}
	}
	if _, err := bm.reconciler(reconcile.DefaultPolicy()).Run(ctx, "whole"); err != nil {
		t.Fatal(err)
	}
	if ga, gb := a.refunds(), bm.refunds(); !reflect.DeepEqual(ga, gb) {
		t.Errorf("sharded ledger (%d refunds) differs from the unsharded one (%d)", len(ga), len(gb))
	}
	a.checkBalances()
	var marks int
	a.db.Get(&marks, `SELECT count(*) FROM reconciler_watermarks WHERE shard <> ''`)
	if marks != 2*n {
		t.Errorf("watermarks: got %d, want one per shard and source (%d)", marks, 2*n)
	}
}

// cancelOnClock cancels the run's context when the run starts planning, as a
// SIGTERM arriving then would.
type cancelOnClock struct {
	*postgres.Store
	cancel context.CancelFunc
}

func (c cancelOnClock) Clock(ctx context.Context) (time.Time, error) {
	c.cancel()
	return time.Time{}, ctx.Err()
}

// Reads is where a run reads the clock when its store can plan on a replica.
func (c cancelOnClock) Reads(ctx context.Context) (reconcile.Reads, error) {
	c.cancel()
	return reconcile.Reads{}, ctx.Err()
}

// A run stopped while planning is on record as interrupted, and moves no
// watermark.
func TestRunInterruptedWhilePlanning(t *testing.T) {
	t.Parallel()
	m := newMarket(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := m.reconciler(reconcile.DefaultPolicy())
	r.Store = cancelOnClock{Store: postgres.NewStore(m.db, zaptest.NewLogger(t)), cancel: cancel}
	if _, err := r.Run(ctx, "stopped"); err == nil {
		t.Fatal("an interrupted run must return an error")
	}
	var status string
	if err := m.db.Get(&status, `SELECT status FROM reconciler_runs WHERE id = 'stopped'`); err != nil || status != "interrupted" {
		t.Errorf("run record: status %q (%v), want interrupted", status, err)
	}
	if w := watermark(t, m); w != nil {
		t.Errorf("an interrupted run set the watermark to %v", w)
	}
}

// An incremental run re-reads its lookback window every time, but plans only
// the events no successful run planned before: right after a run that saw
// everything it plans nothing; a closure committed late (timestamp inside the
// lookback, before the watermark) and a job closed again (new closed_at) are
// planned; a refused run records nothing as seen.
func TestIncrementalPlansOnlyUnseenEvents(t *testing.T) {
	t.Parallel()
	m := newMarket(t)
	incremental := func() *reconcile.Reconciler { return incrementalReconciler(m) }
	ctx := context.Background()
	seen := func() int {
		var n int
		if err := m.db.Get(&n, `SELECT count(*) FROM reconciler_seen_events`); err != nil {
			t.Fatal(err)
		}
		return n
	}

	m.job(1, "closed", "no_hire", ago(10*min1))
	m.proposal(10, 1, 100, nil)
	m.fee(100, 10, "base", 4)
	res, err := incremental().Run(ctx, "first")
	if err != nil || res.Plan.Scope != "full" || len(issuedOf(t, res)) != 1 {
		t.Fatalf("first run: err %v; want a full run writing 10/base", err)
	}
	if got := seen(); got != 1 {
		t.Fatalf("seen events after a full run: got %d, want 1 (job 1's closure, inside the lookback)", got)
	}

	again, err := incremental().Run(ctx, "again")
	if err != nil || again.Plan.Scope != "incremental" {
		t.Fatalf("second run: err %v", err)
	}
	if again.Plan.Events() != 0 || again.Plan.Totals().Refunds != 0 {
		t.Errorf("a tick with nothing new planned %d events, %d refunds; want 0, 0", again.Plan.Events(), again.Plan.Totals().Refunds)
	}

	// Committed now, stamped 20 minutes before the watermark: a late commit.
	m.job(2, "closed", "no_hire", ago(20*min1))
	m.proposal(20, 2, 101, nil)
	m.fee(101, 20, "base", 4)
	// Job 1 reopened, proposed to, and closed again: a new event for the
	// same job.
	m.proposal(11, 1, 102, nil)
	m.fee(102, 11, "base", 6)
	m.exec(`UPDATE jobs SET closed_at = now() - interval '1 second' WHERE id = 1`)

	refused := incremental()
	refused.Limits = reconcile.Limits{MaxRefunds: 1}
	if _, err := refused.Run(ctx, "refused"); err == nil {
		t.Fatal("a run over its limit must be refused")
	}
	late, err := incremental().Run(ctx, "late")
	if err != nil {
		t.Fatalf("late run: %v", err)
	}
	if late.Plan.Events() != 2 {
		t.Errorf("events planned after a late commit and a re-close: got %d, want 2", late.Plan.Events())
	}
	if got, want := issuedKeys(issuedOf(t, late)), []string{"11/base", "20/base"}; !reflect.DeepEqual(got, want) {
		t.Errorf("late run wrote %v, want %v", got, want)
	}
	last, err := incremental().Run(ctx, "last")
	if err != nil || last.Plan.Events() != 0 {
		t.Errorf("the tick after: err %v, events %d; want none", err, last.Plan.Events())
	}
	m.checkBalances()
}

// Only closures that rules 1 and 2 can entitle are incremental events: a job
// closed hired, expired or for inactivity owes nothing for its close, so an
// incremental run does not plan its proposals (a stray refund on one is a
// discrepancy for the full sweep), while a removal for a ToS violation and a
// close without hire are planned and refunded.
func TestIncrementalPlansOnlyEntitlingClosures(t *testing.T) {
	t.Parallel()
	m := newMarket(t)
	incremental := func() *reconcile.Reconciler { return incrementalReconciler(m) }
	ctx := context.Background()
	if _, err := incremental().Run(ctx, "first"); err != nil {
		t.Fatalf("first run: %v", err)
	}

	m.now = time.Now()
	for i, reason := range []string{"hired", "expired", "inactivity"} {
		job := int64(10 + i)
		m.job(job, "closed", reason, ago(5*min1))
		m.proposal(job*10, job, 100+job, nil)
		m.fee(100+job, job*10, "base", 4)
	}
	// A refund nothing entitles, on a hired job's proposal.
	m.entry(110, 4, "refund", 100, "base", "")
	m.job(20, "removed", "tos_violation", ago(5*min1))
	m.proposal(200, 20, 120, nil)
	m.fee(120, 200, "base", 4)
	m.job(21, "closed", "no_hire", ago(5*min1))
	m.proposal(210, 21, 121, nil)
	m.fee(121, 210, "base", 4)

	res, err := incremental().Run(ctx, "incremental")
	if err != nil || res.Plan.Scope != "incremental" {
		t.Fatalf("incremental run: err %v", err)
	}
	if res.Plan.Events() != 2 {
		t.Errorf("events: got %d, want 2 (the removal and the close without hire)", res.Plan.Events())
	}
	if got, want := issuedKeys(issuedOf(t, res)), []string{"200/base", "210/base"}; !reflect.DeepEqual(got, want) {
		t.Errorf("incremental run wrote %v, want %v", got, want)
	}
	if n := res.Plan.Totals().Discrepancies; n != 0 {
		t.Errorf("incremental run reported %d discrepancies; the hired job's proposal is the full sweep's", n)
	}

	full := incrementalReconciler(m)
	full.Options.Full = true
	res, err = full.Run(ctx, "full")
	if err != nil {
		t.Fatalf("full run: %v", err)
	}
	if got := res.Plan.Totals().DiscrepanciesByKind[reconcile.UnexpectedRefund]; got != 1 {
		t.Errorf("full sweep: unexpected refunds %d, want 1 (on the hired job's proposal)", got)
	}
	if n := len(issuedOf(t, res)); n != 0 {
		t.Errorf("full sweep wrote %d refunds after the incremental run; want 0", n)
	}
}

// A boosted proposal of a job that closed without a hire and whose auction
// ended in the same window is found by both events: changed_proposals.sql
// returns it twice (UNION ALL, unordered), and the run plans and writes it
// once, beside the boosted proposal of an auction that ended alone (each
// id once across slices: TestIncrementalSlices).
func TestIncrementalPlansAProposalOfTwoEventsOnce(t *testing.T) {
	t.Parallel()
	m := newMarket(t)
	ctx := context.Background()
	if _, err := incrementalReconciler(m).Run(ctx, "first"); err != nil {
		t.Fatalf("first run: %v", err)
	}
	m.now = time.Now()
	// Job 1: closed without a hire and its auction ended; 10 was outbid.
	m.job(1, "closed", "no_hire", ago(5*min1))
	m.auction(1, ago(6*min1))
	m.proposal(10, 1, 100, nil)
	m.fee(100, 10, "base", 4)
	m.fee(100, 10, "boost", 7)
	m.bid(10, "outbid", ago(7*min1))
	// Job 2: only its auction ended; 20 was outbid.
	m.job(2, "open", "", nil)
	m.auction(2, ago(5*min1))
	m.proposal(20, 2, 101, nil)
	m.fee(101, 20, "base", 4)
	m.fee(101, 20, "boost", 5)
	m.bid(20, "outbid", ago(6*min1))

	res, err := incrementalReconciler(m).Run(ctx, "incremental")
	if err != nil || res.Plan.Scope != "incremental" {
		t.Fatalf("incremental run: err %v", err)
	}
	if res.Plan.Events() != 3 {
		t.Errorf("events: got %d, want 3 (job 1's close and auction end, job 2's auction end)", res.Plan.Events())
	}
	if got, want := issuedKeys(issuedOf(t, res)), []string{"10/base", "10/boost", "20/boost"}; !reflect.DeepEqual(got, want) {
		t.Errorf("incremental run wrote %v, want %v", got, want)
	}
	if n := res.Plan.Totals().Refunds; n != 3 {
		t.Errorf("planned refunds: got %d, want 3 (10's base and boost once each, 20's boost)", n)
	}
	m.checkBalances()
}
