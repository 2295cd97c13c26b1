package replicatest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/connects/connects-reconciler/reconcile"
	"github.com/connects/connects-reconciler/reconcile/postgres"
)

// With the standby's replay paused, jobs the primary closes after the pause
// are not skipped: the run's window, and the watermark it saves, stop at what
// the standby replayed; a lag over max_replica_lag fails the run; after the
// replay resumes, the next run writes their refunds, once.
func TestPausedReplayLosesNothing(t *testing.T) {
	c := newCluster(t)
	p := reconcile.DefaultPolicy()
	p.SettleDelay = 0
	// No lookback: only the watermark keeps the withheld closures in the
	// next window, so a watermark past them would lose them for good.
	opts := reconcile.Options{BatchSize: 50, ApplyBatchSize: 7, Retries: 1, RetryBackoff: time.Millisecond, Lookback: 0, MaxReplicaLag: time.Hour}

	// A: 5 jobs closed two hours ago, 3 proposals each; the first run (a
	// full sweep: no watermark yet) writes their 30 refunds.
	c.jobs(1, 5, 3)
	c.close(1, 5, "now() - interval '2 hours'")
	// B: 4 open jobs, 3 proposals each, on the standby before the pause.
	c.jobs(101, 4, 3)
	c.CatchUp()
	res, err := c.reconciler(p, opts).Run(bg, "first")
	if err != nil {
		t.Fatalf("first run: %v", err)
	}
	if got := len(issued(t, res)); got != 30 || res.Plan.PlannedOn != reconcile.OnReplica || res.Plan.ReplicaLag != 0 {
		t.Fatalf("first run: issued %d on %s with lag %s; want 30 on the caught-up replica", got, res.Plan.PlannedOn, res.Plan.ReplicaLag)
	}
	res.Close()
	first := c.watermark()
	c.CatchUp()

	c.PauseReplay()
	c.close(101, 4, "now()")
	var closedFrom time.Time
	if err := c.Primary.Get(&closedFrom, `SELECT min(closed_at) FROM jobs WHERE id BETWEEN 101 AND 104`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // settled on the primary's clock (settle delay 0)

	tight := opts
	tight.MaxReplicaLag = 500 * time.Millisecond
	_, err = c.reconciler(p, tight).Run(bg, "lagging")
	var lagErr *reconcile.ReplicaLagError
	if !errors.As(err, &lagErr) || !strings.Contains(err.Error(), "max_replica_lag") || !strings.Contains(err.Error(), "paused") {
		t.Fatalf("run with the replica lagging past max_replica_lag: got %v, want a ReplicaLagError naming max_replica_lag and the pause", err)
	}
	if rec := c.run("lagging"); rec.Status != reconcile.StatusFailed || rec.Error == nil || !strings.Contains(*rec.Error, "behind the primary") {
		t.Fatalf("lagging run record: %+v", rec)
	}
	if w := c.watermark(); !w.Equal(first) {
		t.Fatalf("a run failed on lag moved the watermark from %s to %s", first, w)
	}

	res, err = c.reconciler(p, opts).Run(bg, "paused")
	if err != nil {
		t.Fatalf("run while paused: %v", err)
	}
	pausedIssued := len(issued(t, res))
	plan := res.Plan
	res.Close()
	paused := c.watermark()
	if plan.PlannedOn != reconcile.OnReplica || plan.ReplicaLag < time.Second {
		t.Errorf("run while paused planned on %s with lag %s; want the replica, lag over 1s", plan.PlannedOn, plan.ReplicaLag)
	}
	if !paused.Equal(plan.SettleCutoff) || !paused.Before(closedFrom) || paused.Before(first) {
		t.Fatalf("watermark while paused %s (cutoff %s): want the replica's replay point, after %s and before the closures at %s",
			paused, plan.SettleCutoff, first, closedFrom)
	}
	if !plan.SettleCutoff.Before(plan.AsOf.Add(-time.Second)) {
		t.Errorf("cutoff %s not bounded by the replay: plan made at %s", plan.SettleCutoff, plan.AsOf)
	}
	rec := c.run("paused")
	if rec.PlannedOn == nil || *rec.PlannedOn != "replica" || rec.LagSeconds == nil || *rec.LagSeconds < 1 {
		t.Errorf("run record while paused: planned_on %v, lag %v; want replica, >= 1s", rec.PlannedOn, rec.LagSeconds)
	}
	var withheld int
	if err := c.Primary.Get(&withheld, `SELECT count(*) FROM jobs WHERE closed_at > $1 AND closed_at < $2`, paused, plan.AsOf); err != nil {
		t.Fatal(err)
	}
	if withheld != 4 || pausedIssued != 0 {
		t.Fatalf("while paused: %d closures withheld behind the watermark, %d refunds written; want 4 and 0", withheld, pausedIssued)
	}

	c.ResumeReplay()
	c.CatchUp()
	res, err = c.reconciler(p, opts).Run(bg, "resumed")
	if err != nil {
		t.Fatalf("run after resume: %v", err)
	}
	after := issued(t, res)
	res.Close()
	for _, r := range after {
		if r.JobID < 101 {
			t.Errorf("after resume wrote a refund of job %d, outside the withheld closures", r.JobID)
		}
	}
	res, err = c.reconciler(p, opts).Run(bg, "again")
	if err != nil {
		t.Fatalf("run after that: %v", err)
	}
	again := len(issued(t, res))
	res.Close()
	l := c.ledger()
	t.Logf("paused replay: %d job closures withheld behind watermark %s (replay lag %s); %d refunds written while paused; "+
		"%d written after resume (want 24); %d by the run after; ledger: %d refunds, %d doubled, %d balances off",
		withheld, paused.Format(time.RFC3339Nano), plan.ReplicaLag.Round(time.Millisecond), pausedIssued, len(after), again,
		l.Refunds, l.Doubled, l.BadBalances)
	if len(after) != 24 || again != 0 || l.Refunds != 54 || l.Doubled != 0 || l.BadBalances != 0 {
		t.Fatalf("after resume: wrote %d (want 24), then %d (want 0); ledger %+v (want 54 refunds, none doubled, balances equal)",
			len(after), again, l)
	}

	// With a lookback, the events a run planned are kept as seen on the
	// primary; a run planning on the replica subtracts them from there.
	look := opts
	look.Lookback = time.Hour
	for i, want := range []int{4, 0} {
		res, err = c.reconciler(p, look).Run(bg, "lookback-"+string(rune('a'+i)))
		if err != nil {
			t.Fatalf("run with a lookback: %v", err)
		}
		if got, n := res.Plan.Events(), len(issued(t, res)); got != want || n != 0 {
			t.Errorf("run %d with a lookback planned %d events (want %d: the B closures, then none as seen) and wrote %d (want 0)", i+1, got, want, n)
		}
		res.Close()
		c.CatchUp()
	}
}

// staleApply is a store whose first apply batch lets the online path write
// refunds on the primary first: the plan, made on the replica, still lists
// them.
type staleApply struct {
	*postgres.Store
	once   sync.Once
	before func()
}

func (s *staleApply) Apply(ctx context.Context, runID string, p reconcile.Policy, cutoff time.Time, batch []reconcile.Verdict, o reconcile.ApplyOptions) ([]reconcile.Written, error) {
	s.once.Do(s.before)
	return s.Store.Apply(ctx, runID, p, cutoff, batch, o)
}

// A plan made on a stale replica, while the online path writes refunds on
// the primary, writes nothing twice: each apply batch evaluates the policy
// again on the primary and skips what the online path wrote.
func TestStalePlanWritesNothingTwice(t *testing.T) {
	c := newCluster(t)
	p := reconcile.DefaultPolicy()
	p.SettleDelay = 0
	opts := reconcile.Options{BatchSize: 20, ApplyBatchSize: 5, Retries: 1, RetryBackoff: time.Millisecond, Full: true}

	c.jobs(1, 10, 4) // 40 proposals, base and boost: 80 refunds owed
	c.close(1, 10, "now() - interval '1 hour'")
	c.CatchUp()
	// Before the plan, with replay paused: the replica never sees these.
	c.PauseReplay()
	for j := int64(1); j <= 3; j++ {
		c.onlineRefund(j*100+1, "base")
		c.onlineRefund(j*100+1, "boost")
	}
	store := &staleApply{Store: postgres.NewStore(c.app, zaptest.NewLogger(t)).WithReplica(c.appReplica, c.appReplicaURL)}
	// During the apply: the online path refunds the bases of jobs 6-10.
	store.before = func() {
		for j := int64(6); j <= 10; j++ {
			c.onlineRefund(j*100+2, "base")
		}
	}
	r := c.reconciler(p, opts)
	r.Store = store
	res, err := r.Run(bg, "stale")
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	planned, err := res.Plan.Refunds()
	if err != nil {
		t.Fatal(err)
	}
	written := issued(t, res)
	skipped, err := res.SkippedRefunds()
	if err != nil {
		t.Fatal(err)
	}
	res.Close()
	c.ResumeReplay()
	l := c.ledger()
	t.Logf("stale plan: planned %d on the replica, wrote %d, skipped %d written online; ledger %d refunds, %d doubled",
		len(planned), len(written), len(skipped), l.Refunds, l.Doubled)
	if len(planned) != 80 || len(written) != 69 || len(skipped) != 11 || l.Refunds != 80 || l.Doubled != 0 || l.BadBalances != 0 {
		t.Fatalf("planned %d (want 80: the replica is stale), wrote %d (want 69), skipped %d (want 11); ledger %+v (want 80, none doubled)",
			len(planned), len(written), len(skipped), l)
	}
	w := keys(written)
	for k := range keys(skipped) {
		if w[k] {
			t.Errorf("refund %s both skipped and written", k)
		}
	}
}
