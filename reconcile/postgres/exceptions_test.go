package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/connects/connects-reconciler/reconcile"
	"github.com/connects/connects-reconciler/reconcile/prometheus"
)

// A sharded full sweep closes only the exceptions of its shard's accounts;
// an incremental run opens and refreshes but never closes; a refused run
// records what it found; a reviewed plan records nothing. The metric of the
// oldest unacknowledged exception is set from what a run recorded.
func TestExceptionsShardsScopesAndMetric(t *testing.T) {
	t.Parallel()
	m := newMarket(t)
	m.job(1, "open", "", nil)
	m.job(2, "closed", "no_hire", ago(2*time.Hour))
	for f := int64(1); f <= 20; f++ {
		m.proposal(f, 1, f, nil)
		m.fee(f, f, "base", 3)
		m.entry(f, 3, "refund", f, "base", "") // an online refund on an open job: unexpected_refund
	}
	m.proposal(100, 2, 100, nil)
	m.fee(100, 100, "base", 5) // owed: a missing refund
	ctx := context.Background()
	open := func(where string) int {
		t.Helper()
		var n int
		if err := m.db.Get(&n, `SELECT count(*) FROM reconciler_exceptions WHERE state = 'open' AND `+where); err != nil {
			t.Fatal(err)
		}
		return n
	}
	inShard := `(hashint8(freelancer_id) & 2147483647) % 2 = 0`

	// A refused run (the missing refund is over the limit) records its 20.
	r := m.reconciler(reconcile.DefaultPolicy())
	r.Limits = reconcile.Limits{MaxRefunds: 0, MaxConnects: 1}
	res, err := r.Run(ctx, runID("exc-refused"))
	var limit *reconcile.LimitError
	if !errors.As(err, &limit) || res == nil || res.Exceptions == nil || res.Exceptions.Opened != 20 {
		t.Fatalf("refused run: %v, recorded %+v; want refused with 20 exceptions opened", err, res)
	}
	res.Close()

	// The metrics: 20 open, none acknowledged, the oldest as old as the run.
	r.Limits = reconcile.Limits{}
	started := time.Now()
	res, err = r.Run(ctx, runID("exc-full"))
	if err != nil {
		t.Fatal(err)
	}
	metrics := prometheus.New()
	metrics.Record(prometheus.Run{Result: res, Started: started, Ended: time.Now()})
	res.Close()
	families, err := metrics.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]float64{}
	for _, f := range families {
		for _, s := range f.GetMetric() {
			key := f.GetName()
			for _, l := range s.GetLabel() {
				key += "/" + l.GetValue()
			}
			found[key] = s.GetGauge().GetValue()
		}
	}
	if age := found["connects_reconciler_oldest_unacknowledged_exception_age_seconds"]; age <= 0 || age > 3600 {
		t.Errorf("oldest unacknowledged exception age: %v, want the seconds since the refused run", age)
	}
	if found["connects_reconciler_open_exceptions/false"] != 20 || found["connects_reconciler_open_exceptions/true"] != 0 {
		t.Errorf("open exceptions: %v", found)
	}

	// Corrected: job 1 closed without hire, every refund is owed after all.
	m.exec(`UPDATE jobs SET status = 'closed', close_reason = 'no_hire', closed_at = now() - interval '1 hour' WHERE id = 1`)

	// An incremental run finds the closure but closes nothing.
	inc := m.reconciler(reconcile.DefaultPolicy())
	inc.Options.Full, inc.Options.Lookback = false, 2*time.Hour
	res, err = inc.Run(ctx, runID("exc-incremental"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Plan.Scope != "incremental" || res.Exceptions == nil || res.Exceptions.Closed != 0 || open("TRUE") != 20 {
		t.Errorf("incremental run: scope %s, recorded %+v, %d open; want 20 still open", res.Plan.Scope, res.Exceptions, open("TRUE"))
	}
	res.Close()

	// Shard 0 of 2's full sweep closes its own accounts' exceptions only.
	want0, want1 := open(inShard), open("NOT "+inShard)
	if want0 == 0 || want1 == 0 {
		t.Fatalf("the fixture's accounts do not span both shards: %d and %d", want0, want1)
	}
	sh := m.reconciler(reconcile.DefaultPolicy())
	sh.Options.Shard = reconcile.Shard{Index: 0, Count: 2}
	res, err = sh.Run(ctx, runID("exc-shard0"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Exceptions.Closed != int64(want0) || open(inShard) != 0 || open("NOT "+inShard) != want1 {
		t.Errorf("shard 0's sweep closed %d (want %d); open now %d in shard 0, %d in shard 1 (want 0 and %d)",
			res.Exceptions.Closed, want0, open(inShard), open("NOT "+inShard), want1)
	}
	res.Close()

	// A reviewed plan applied records nothing, and closes nothing.
	plan, err := sh.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err = m.reconciler(reconcile.DefaultPolicy()).RunPlan(ctx, runID("exc-plan"), plan)
	if err != nil {
		t.Fatal(err)
	}
	if res.Exceptions != nil || open("NOT "+inShard) != want1 {
		t.Errorf("a reviewed plan recorded %+v; %d open in shard 1, want %d", res.Exceptions, open("NOT "+inShard), want1)
	}
	res.Close()

	// The whole marketplace's sweep closes the rest; nothing is deleted.
	res, err = m.reconciler(reconcile.DefaultPolicy()).Run(ctx, runID("exc-all"))
	if err != nil {
		t.Fatal(err)
	}
	res.Close()
	var total int
	m.db.Get(&total, `SELECT count(*) FROM reconciler_exceptions WHERE state = 'closed'`)
	if open("TRUE") != 0 || total != 20 {
		t.Errorf("after the full sweep: %d open, %d closed; want 0 and 20", open("TRUE"), total)
	}
}
