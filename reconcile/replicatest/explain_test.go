package replicatest

import (
	"testing"
	"time"

	"github.com/connects/connects-reconciler/reconcile"
)

// Explain on a replica takes the run's read bound: the primary's clock less
// the settle delay, or what the replica has replayed if that is earlier
// (Reads.SettleCutoff), so a component explain calls settled is one a run
// reading there would judge settled too. Before, explain counted the settle
// delay back from the replay point, a second bound that was the run's only
// by chance.
func TestExplainTakesTheRunsReadBound(t *testing.T) {
	c := newCluster(t)
	p := reconcile.DefaultPolicy()
	p.SettleDelay = time.Second
	opts := reconcile.Options{BatchSize: 50, ApplyBatchSize: 7, Retries: 1, RetryBackoff: time.Millisecond, MaxReplicaLag: time.Hour}
	c.jobs(1, 1, 1)
	c.close(1, 1, "now() - interval '2 hours'")
	c.CatchUp()
	c.PauseReplay()
	c.jobs(2, 1, 1) // a commit the replica has not replayed
	time.Sleep(2500 * time.Millisecond)

	r := c.reconciler(p, opts)
	plan, err := r.Plan(bg)
	if err != nil {
		t.Fatal(err)
	}
	defer plan.Close()
	out, err := reconcile.ExplainProposals(bg, r.Store.(reconcile.ExplainStore), p, []int64{101})
	if err != nil {
		t.Fatal(err)
	}
	if plan.PlannedOn != reconcile.OnReplica || !plan.SettleCutoff.Before(plan.AsOf.Add(-2*time.Second)) {
		t.Fatalf("the plan: on %s, cutoff %s at %s; want the replica's replay point, over 2s behind", plan.PlannedOn, plan.SettleCutoff, plan.AsOf)
	}
	if !out.SettleCutoff.Equal(plan.SettleCutoff) || out.ReadOn != reconcile.OnReplica || out.ReplayedUntil == nil ||
		!out.ReplayedUntil.Equal(plan.SettleCutoff) {
		t.Errorf("explain: cutoff %s on %s (replayed until %v); want the run's %s", out.SettleCutoff, out.ReadOn, out.ReplayedUntil, plan.SettleCutoff)
	}
	if len(out.Proposals) != 1 || out.Proposals[0].Components[0].Status != reconcile.MissingRefund {
		t.Errorf("explain of 101: %+v; want its base missing", out.Proposals)
	}
	c.ResumeReplay()
}
