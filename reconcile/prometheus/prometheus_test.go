package prometheus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/connects/connects-reconciler/reconcile"
)

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) *time.Time { t := t0.Add(d); return &t }

func refund(p int64, c reconcile.Component, rule reconcile.Rule, connects int64, event time.Duration) reconcile.Refund {
	return reconcile.Refund{ProposalID: p, FreelancerID: p * 10, Component: c, Rule: rule, Charged: connects, EventAt: at(event), State: reconcile.MissingRefund}
}

var planned = []reconcile.Refund{
	refund(1, reconcile.Base, reconcile.RuleClosedWithoutHire, 4, -5*time.Hour),
	refund(1, reconcile.Boost, reconcile.RuleClosedWithoutHire, 6, -5*time.Hour),
	refund(2, reconcile.Boost, reconcile.RuleBoostOutbid, 3, -1*time.Hour),
}

// plan has three planned refunds, events 5h, 3h and 1h before t0, one pending
// refund 10m before t0, and two discrepancies.
func plan() *reconcile.Plan {
	p := &reconcile.Plan{AsOf: t0, Scope: "full"}
	for _, f := range []reconcile.Verdict{
		{ProposalID: 1, FreelancerID: 10, Component: reconcile.Base, Rule: reconcile.RuleClosedWithoutHire, Charged: 4, EventAt: at(-5 * time.Hour), State: reconcile.MissingRefund},
		{ProposalID: 1, FreelancerID: 10, Component: reconcile.Boost, Rule: reconcile.RuleClosedWithoutHire, Charged: 6, EventAt: at(-5 * time.Hour), State: reconcile.MissingRefund},
		{ProposalID: 2, FreelancerID: 20, Component: reconcile.Boost, Rule: reconcile.RuleBoostOutbid, Charged: 3, EventAt: at(-1 * time.Hour), State: reconcile.MissingRefund},
		{ProposalID: 7, Component: reconcile.Base, State: reconcile.UnexpectedRefund},
		{ProposalID: 8, Component: reconcile.Base, State: reconcile.UnexpectedRefund},
		{ProposalID: 9, Component: reconcile.Base, Rule: reconcile.RuleTOSRemoved, Charged: 2, EventAt: at(-10 * time.Minute), State: reconcile.PendingRefund},
	} {
		if err := p.Add(f); err != nil {
			panic(err)
		}
	}
	return p
}

// result is a run of plan() whose committed batches wrote written out of
// the planned refunds batch (the rest of batch skipped).
func result(status string, batch, written []reconcile.Refund) *reconcile.Result {
	res := &reconcile.Result{Status: status, Plan: plan()}
	if batch != nil {
		if err := res.Record(issued(batch, written)); err != nil {
			panic(err)
		}
	}
	return res
}

// issued is batch as Apply leaves it: those of written with their ledger
// entry.
func issued(batch, written []reconcile.Refund) []reconcile.Verdict {
	out := make([]reconcile.Verdict, len(batch))
	for i, r := range batch {
		out[i] = reconcile.Verdict(r)
		for _, w := range written {
			if w.ProposalID == r.ProposalID && w.Component == r.Component {
				out[i].LedgerEntryID = int64(100 + i)
			}
		}
	}
	return out
}

func TestOldestOwed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		res  *reconcile.Result
		want time.Duration // age at t0 + 1m (the run took a minute); 0: nothing owed
	}{
		{"no result", nil, 0},
		{"succeeded: only the pending refund is left",
			result(reconcile.StatusSucceeded, planned, planned), 11 * time.Minute},
		{"refused: every planned refund is left",
			result(reconcile.StatusRefused, nil, nil), 5*time.Hour + time.Minute},
		{"interrupted after the first batch: the unwritten ones are left",
			result(reconcile.StatusInterrupted, planned[:2], planned[:2]), time.Hour + time.Minute},
		{"a skipped refund counts as still owed",
			result(reconcile.StatusSucceeded, planned, planned[1:]), 5*time.Hour + time.Minute},
		{"nothing owed at all",
			&reconcile.Result{Status: reconcile.StatusSucceeded, Plan: &reconcile.Plan{AsOf: t0, Scope: "full"}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := OldestOwedAge(tt.res, time.Minute); got != tt.want {
				t.Errorf("OldestOwedAge: got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestRunStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		run  Run
		want string
	}{
		{Run{Result: &reconcile.Result{Status: reconcile.StatusRefused}, Err: errors.New("x")}, reconcile.StatusRefused},
		{Run{Err: reconcile.ErrLocked}, StatusLocked},
		{Run{Err: context.Canceled, Canceled: true}, reconcile.StatusInterrupted},
		{Run{Err: errors.New("connection refused")}, reconcile.StatusFailed},
	}
	for _, tt := range tests {
		if got := tt.run.Status(); got != tt.want {
			t.Errorf("Status of %+v: got %q, want %q", tt.run, got, tt.want)
		}
	}
}

func TestRecord(t *testing.T) {
	t.Parallel()
	m := New()
	m.Record(Run{Result: result(reconcile.StatusSucceeded, planned, planned),
		Started: t0, Ended: t0.Add(90 * time.Second)})

	want := `
# HELP connects_reconciler_last_run_connects_refunded Connects the last run refunded, by rule and component.
# TYPE connects_reconciler_last_run_connects_refunded gauge
connects_reconciler_last_run_connects_refunded{component="base",rule="boost_outbid"} 0
connects_reconciler_last_run_connects_refunded{component="base",rule="closed_without_hire"} 4
connects_reconciler_last_run_connects_refunded{component="base",rule="tos_removed"} 0
connects_reconciler_last_run_connects_refunded{component="boost",rule="boost_outbid"} 3
connects_reconciler_last_run_connects_refunded{component="boost",rule="closed_without_hire"} 6
connects_reconciler_last_run_connects_refunded{component="boost",rule="tos_removed"} 0
# HELP connects_reconciler_last_run_status 1 for the outcome of the last run (succeeded, failed, refused, interrupted), 0 for the others.
# TYPE connects_reconciler_last_run_status gauge
connects_reconciler_last_run_status{status="failed"} 0
connects_reconciler_last_run_status{status="interrupted"} 0
connects_reconciler_last_run_status{status="refused"} 0
connects_reconciler_last_run_status{status="succeeded"} 1
# HELP connects_reconciler_discrepancies Discrepancies the last run that made a plan found, by kind, under its scope: a full sweep sees all of them, an incremental run those among what changed.
# TYPE connects_reconciler_discrepancies gauge
connects_reconciler_discrepancies{kind="amount_mismatch",scope="full"} 0
connects_reconciler_discrepancies{kind="future_timestamp",scope="full"} 0
connects_reconciler_discrepancies{kind="invalid_bid_outcome",scope="full"} 0
connects_reconciler_discrepancies{kind="invalid_job_state",scope="full"} 0
connects_reconciler_discrepancies{kind="missing_balance",scope="full"} 0
connects_reconciler_discrepancies{kind="mixed_accounts",scope="full"} 0
connects_reconciler_discrepancies{kind="outbid_without_time",scope="full"} 0
connects_reconciler_discrepancies{kind="positive_fee",scope="full"} 0
connects_reconciler_discrepancies{kind="refund_without_component",scope="full"} 0
connects_reconciler_discrepancies{kind="unexpected_refund",scope="full"} 2
connects_reconciler_discrepancies{kind="unknown_job",scope="full"} 0
connects_reconciler_discrepancies{kind="unknown_proposal",scope="full"} 0
connects_reconciler_discrepancies{kind="wrong_account",scope="full"} 0
# HELP connects_reconciler_oldest_owed_refund_age_seconds Age, at the last run's end, of the oldest event entitling a refund that was owed and still not in the ledger; 0 when none.
# TYPE connects_reconciler_oldest_owed_refund_age_seconds gauge
connects_reconciler_oldest_owed_refund_age_seconds 690
# HELP connects_reconciler_runs_total Runs this process made, by outcome: succeeded, failed, refused, interrupted; skipped_locked (another run held the lock), skipped_running (the previous tick's run was still going).
# TYPE connects_reconciler_runs_total counter
connects_reconciler_runs_total{status="failed"} 0
connects_reconciler_runs_total{status="interrupted"} 0
connects_reconciler_runs_total{status="refused"} 0
connects_reconciler_runs_total{status="skipped_locked"} 0
connects_reconciler_runs_total{status="skipped_running"} 0
connects_reconciler_runs_total{status="succeeded"} 1
`
	names := []string{"connects_reconciler_last_run_connects_refunded", "connects_reconciler_last_run_status",
		"connects_reconciler_discrepancies", "connects_reconciler_oldest_owed_refund_age_seconds", "connects_reconciler_runs_total"}
	if err := testutil.GatherAndCompare(m.Gatherer(), strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	success := testutil.ToFloat64(m.lastSuccessEnd.WithLabelValues())
	if want := float64(t0.Add(90 * time.Second).Unix()); success != want {
		t.Errorf("last success: got %v, want %v", success, want)
	}

	// A failed run that never made a plan: counted, the last success and the
	// plan's gauges kept, nothing issued; a locked one changes no last-run
	// gauge, only the skip time and the running run's age.
	m.Record(Run{Err: errors.New("connection refused"), Started: t0.Add(time.Hour), Ended: t0.Add(time.Hour + time.Second)})
	m.Record(Run{Err: reconcile.ErrLocked, Started: t0.Add(2 * time.Hour), Ended: t0.Add(2 * time.Hour), RunningAge: 40 * time.Minute, HolderSilent: 25 * time.Minute})
	checks := []struct {
		name      string
		got, want float64
	}{
		{"runs_total failed", testutil.ToFloat64(m.runs.WithLabelValues("failed")), 1},
		{"runs_total skipped_locked", testutil.ToFloat64(m.runs.WithLabelValues("skipped_locked")), 1},
		{"last_skip_timestamp_seconds locked", testutil.ToFloat64(m.lastSkip.WithLabelValues("locked")), float64(t0.Add(2 * time.Hour).Unix())},
		{"running_run_age_seconds", testutil.ToFloat64(m.runningAge.WithLabelValues()), 2400},
		{"running_run_heartbeat_age_seconds", testutil.ToFloat64(m.runningSilent.WithLabelValues()), 1500},
		{"last_run_status failed", testutil.ToFloat64(m.lastStatus.WithLabelValues("failed")), 1},
		{"last_run_status succeeded", testutil.ToFloat64(m.lastStatus.WithLabelValues("succeeded")), 0},
		{"last_run_timestamp_seconds", testutil.ToFloat64(m.lastEnd.WithLabelValues()), float64(t0.Add(time.Hour + time.Second).Unix())},
		{"last_success_timestamp_seconds", testutil.ToFloat64(m.lastSuccessEnd.WithLabelValues()), success},
		{"last_run_refunds_issued", testutil.ToFloat64(m.lastIssued.WithLabelValues("closed_without_hire", "base")), 0},
		{"refunds_issued_total", testutil.ToFloat64(m.refundsIssued.WithLabelValues("closed_without_hire", "base")), 1},
		{"connects_refunded_total", testutil.ToFloat64(m.connectsRefunded.WithLabelValues("closed_without_hire", "boost")), 6},
		{"oldest_owed_refund_age_seconds", testutil.ToFloat64(m.oldestOwedAge.WithLabelValues()), 690},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestGrouping(t *testing.T) {
	t.Parallel()
	sh, _ := reconcile.ParseShard("2/4")
	tests := []struct {
		o    reconcile.Options
		want string
	}{
		{reconcile.Options{}, "map[sweep:incremental]"},
		{reconcile.Options{Full: true, Shard: sh}, "map[shard:2/4 sweep:full]"},
	}
	for _, tt := range tests {
		if got := fmt.Sprint(Grouping(tt.o)); got != tt.want {
			t.Errorf("Grouping(%+v): got %s, want %s", tt.o, got, tt.want)
		}
	}
}

// Every kind's gauge is set on every run: a defect found by one run and gone
// by the next reads 0 again (schedule mode serves one registry for hours).
func TestDiscrepancyGaugesReset(t *testing.T) {
	t.Parallel()
	m := New()
	withDefect := &reconcile.Plan{AsOf: t0, Scope: "full"}
	if err := withDefect.Add(reconcile.Verdict{ProposalID: 5, Component: reconcile.Base, State: reconcile.State(reconcile.InvalidJobState)}); err != nil {
		t.Fatal(err)
	}
	gauge := func() float64 {
		return testutil.ToFloat64(m.discrepancies.WithLabelValues(string(reconcile.InvalidJobState), "full"))
	}
	m.Record(Run{Result: &reconcile.Result{Status: reconcile.StatusSucceeded, Plan: withDefect}, Started: t0, Ended: t0.Add(time.Second)})
	if got := gauge(); got != 1 {
		t.Fatalf("after a run finding the defect: got %v, want 1", got)
	}
	m.Record(Run{Result: &reconcile.Result{Status: reconcile.StatusSucceeded, Plan: &reconcile.Plan{AsOf: t0, Scope: "full"}},
		Started: t0, Ended: t0.Add(time.Second)})
	if got := gauge(); got != 0 {
		t.Errorf("after a run no longer finding it: got %v, want 0", got)
	}
}

// Where the last run planned and the replica lag it saw, also when the lag
// failed it.
func TestRecordReplica(t *testing.T) {
	m := New()
	res := result(reconcile.StatusSucceeded, nil, nil)
	res.Plan.PlannedOn, res.Plan.ReplicaLag = reconcile.OnReplica, 3*time.Second
	m.Record(Run{Result: res, Started: t0, Ended: t0.Add(time.Second)})
	if on, off, lag := testutil.ToFloat64(m.plannedOn.WithLabelValues("replica")), testutil.ToFloat64(m.plannedOn.WithLabelValues("primary")),
		testutil.ToFloat64(m.replicaLag.WithLabelValues()); on != 1 || off != 0 || lag != 3 {
		t.Fatalf("planned on replica %v, primary %v, lag %v; want 1, 0, 3", on, off, lag)
	}
	m.Record(Run{Err: &reconcile.ReplicaLagError{Lag: time.Hour, Max: 30 * time.Minute, Until: t0}, Started: t0, Ended: t0.Add(time.Second)})
	if lag := testutil.ToFloat64(m.replicaLag.WithLabelValues()); lag != 3600 {
		t.Fatalf("lag after a run failed on it: %v, want 3600", lag)
	}
	res = result(reconcile.StatusSucceeded, nil, nil)
	res.Plan.PlannedOn = reconcile.OnPrimary
	m.Record(Run{Result: res, Started: t0, Ended: t0.Add(time.Second)})
	if on, lag := testutil.ToFloat64(m.plannedOn.WithLabelValues("primary")), testutil.ToFloat64(m.replicaLag.WithLabelValues()); on != 1 || lag != 0 {
		t.Fatalf("planned on primary %v, lag %v; want 1, 0", on, lag)
	}
}

// The schedule command's metrics carry the same sweep and shard labels as a
// run pod's pushes (the Pushgateway adds those from the grouping key), so one
// set of alert rules selects both; the Go runtime's metrics carry none.
func TestLabelled(t *testing.T) {
	t.Parallel()
	sh, _ := reconcile.ParseShard("1/4")
	m := NewLabelled(Grouping(reconcile.Options{Full: true, Shard: sh}))
	m.Record(Run{Result: result(reconcile.StatusSucceeded, planned, planned), Started: t0, Ended: t0.Add(time.Minute)})
	m.SkippedStillRunning(t0.Add(20*time.Minute), t0.Add(5*time.Minute))
	mfs, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "connects_reconciler_") {
			continue
		}
		for _, series := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range series.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["sweep"] != "full" || labels["shard"] != "1/4" {
				t.Errorf("%s %v: want sweep=full and shard=1/4", mf.GetName(), labels)
			}
			seen++
		}
	}
	if seen == 0 {
		t.Fatal("no connects_reconciler_ series gathered")
	}
	if got := testutil.ToFloat64(m.runningAge.WithLabelValues()); got != 900 {
		t.Errorf("running_run_age_seconds after a skipped tick: got %v, want 900", got)
	}
	if got := testutil.ToFloat64(m.runs.WithLabelValues(StatusStillRunning)); got != 1 {
		t.Errorf("runs_total skipped_running: got %v, want 1", got)
	}
}
