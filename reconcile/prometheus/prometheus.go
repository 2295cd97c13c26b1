// Package prometheus is connects-reconciler's Prometheus adapter: the job's
// metrics, filled from what a run did (a reconcile.Result), served for
// scraping by the schedule command and pushed to a Pushgateway by run.
//
// There are two kinds of metric. Gauges named connects_reconciler_last_run_*
// (and the success time, the oldest owed refund's age and the discrepancies)
// describe the last run; they mean the same whether scraped from a
// long-running process or pushed by a process that lives for one run, so they
// are what alerts use and all that is pushed. Counters named *_total add up
// the runs of one process; they are served by the schedule command only,
// since a counter that starts from zero in every pod says nothing more than
// the gauges and Prometheus would read every push as a reset.
package prometheus

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/push"

	"github.com/connects/connects-reconciler/internal/version"
	"github.com/connects/connects-reconciler/reconcile"
)

// Job is the Pushgateway job label of every push.
const Job = "connects-reconciler"

// StatusLocked is the outcome of a run that found another run holding the
// lock and did nothing: a skip, not a failure. It is counted and sets
// last_skip_timestamp_seconds{reason="locked"} and running_run_age_seconds,
// but none of the last-run gauges: the run holding the lock reports.
const StatusLocked = "skipped_locked"

// StatusStillRunning is a schedule tick skipped because the process's own
// previous run is still going.
const StatusStillRunning = "skipped_running"

// Skip reasons of connects_reconciler_last_skip_timestamp_seconds.
const (
	ReasonLocked       = "locked"        // another run holds the lock
	ReasonStillRunning = "still_running" // schedule: this process's previous run is still going
)

// Statuses are the outcomes a run is counted under.
var Statuses = []string{
	reconcile.StatusSucceeded, reconcile.StatusFailed, reconcile.StatusRefused,
	reconcile.StatusInterrupted, StatusLocked, StatusStillRunning,
}

// lastRunStatuses are the outcomes connects_reconciler_last_run_status shows.
var lastRunStatuses = Statuses[:4]

var components = []reconcile.Component{reconcile.Base, reconcile.Boost}

var kinds = reconcile.DiscrepancyStates

// Metrics holds the job's metrics. Its methods are safe for concurrent use.
type Metrics struct {
	lastRun *prom.Registry // the last run's gauges: served and pushed
	process *prom.Registry // counters over the process's life, Go runtime: served only

	runs             *prom.CounterVec
	refundsIssued    *prom.CounterVec
	connectsRefunded *prom.CounterVec

	lastStatus     *prom.GaugeVec
	lastEnd        *prom.GaugeVec // unlabelled vectors: a skipped run's push
	lastDuration   *prom.GaugeVec // leaves the last run's values as they were
	lastIssued     *prom.GaugeVec
	lastConnects   *prom.GaugeVec
	lastPlanned    *prom.GaugeVec // unlabelled vectors export nothing until set,
	lastSkipped    *prom.GaugeVec // so a push without them keeps the pushed values
	discrepancies  *prom.GaugeVec
	oldestOwedAge  *prom.GaugeVec
	lastSuccessEnd *prom.GaugeVec
	plannedOn      *prom.GaugeVec // {on}: 1 where the last run planned
	replicaLag     *prom.GaugeVec
	lastSkip       *prom.GaugeVec
	runningAge     *prom.GaugeVec
	runningSilent  *prom.GaugeVec
	// exceptions: set by a run that recorded its discrepancies
	oldestUnackedAge *prom.GaugeVec
	openExceptions   *prom.GaugeVec // {acknowledged}
	// coverage: refunded Connects no run matched yet, by age; the oldest's age
	unmatchedConnects  *prom.GaugeVec // {age}
	oldestUnmatchedAge *prom.GaugeVec
}

// New returns the metrics of a run pod, which pushes them under the grouping
// labels (Grouping): every series of a known label set at zero but those that
// only a run can tell (the last run's time, planned, skipped, discrepancies,
// the oldest owed refund, the last success, skips), which appear once a run
// sets them.
func New() *Metrics { return NewLabelled(nil) }

// NewLabelled returns metrics whose series all carry labels: the schedule
// command serves its metrics with Grouping(options), so that a scraped
// process and a pushed run pod carry the same sweep and shard labels and the
// same alert rules select both. Pushed metrics must not carry them (the
// Pushgateway adds the grouping labels itself).
func NewLabelled(labels map[string]string) *Metrics {
	name := func(n string) string { return "connects_reconciler_" + n }
	m := &Metrics{
		lastRun: prom.NewRegistry(),
		process: prom.NewRegistry(),
		runs: prom.NewCounterVec(prom.CounterOpts{Name: name("runs_total"),
			Help: "Runs this process made, by outcome: succeeded, failed, refused, interrupted; skipped_locked (another run held the lock), skipped_running (the previous tick's run was still going)."},
			[]string{"status"}),
		refundsIssued: prom.NewCounterVec(prom.CounterOpts{Name: name("refunds_issued_total"),
			Help: "Refunds this process wrote to the ledger, by rule and component."},
			[]string{"rule", "component"}),
		connectsRefunded: prom.NewCounterVec(prom.CounterOpts{Name: name("connects_refunded_total"),
			Help: "Connects this process refunded, by rule and component."},
			[]string{"rule", "component"}),
		lastStatus: prom.NewGaugeVec(prom.GaugeOpts{Name: name("last_run_status"),
			Help: "1 for the outcome of the last run (succeeded, failed, refused, interrupted), 0 for the others."},
			[]string{"status"}),
		lastEnd: prom.NewGaugeVec(prom.GaugeOpts{Name: name("last_run_timestamp_seconds"),
			Help: "When the last run ended, in Unix seconds."}, nil),
		lastDuration: prom.NewGaugeVec(prom.GaugeOpts{Name: name("last_run_duration_seconds"),
			Help: "How long the last run took, lock to record."}, nil),
		lastIssued: prom.NewGaugeVec(prom.GaugeOpts{Name: name("last_run_refunds_issued"),
			Help: "Refunds the last run wrote to the ledger, by rule and component."},
			[]string{"rule", "component"}),
		plannedOn: prom.NewGaugeVec(prom.GaugeOpts{Name: name("last_run_planned_on"),
			Help: "1 for where the last run planned (primary, or replica: a hot standby), 0 for the other."},
			[]string{"on"}),
		replicaLag: prom.NewGaugeVec(prom.GaugeOpts{Name: name("last_run_replica_lag_seconds"),
			Help: "How far the replica's replay was behind the primary's clock when the last run planned on it (or failed because of it); 0 when caught up."},
			nil),
		lastConnects: prom.NewGaugeVec(prom.GaugeOpts{Name: name("last_run_connects_refunded"),
			Help: "Connects the last run refunded, by rule and component."},
			[]string{"rule", "component"}),
		lastPlanned: prom.NewGaugeVec(prom.GaugeOpts{Name: name("last_run_refunds_planned"),
			Help: "Missing refunds the last run's plan found (written, skipped, or left by a refusal or failure)."},
			nil),
		lastSkipped: prom.NewGaugeVec(prom.GaugeOpts{Name: name("last_run_refunds_skipped"),
			Help: "Planned refunds the last run did not write because the policy, evaluated again at write time, no longer owed them as planned."},
			nil),
		discrepancies: prom.NewGaugeVec(prom.GaugeOpts{Name: name("discrepancies"),
			Help: "Discrepancies the last run that made a plan found, by kind, under its scope: a full sweep sees all of them, an incremental run those among what changed."},
			[]string{"kind", "scope"}),
		oldestOwedAge: prom.NewGaugeVec(prom.GaugeOpts{Name: name("oldest_owed_refund_age_seconds"),
			Help: "Age, at the last run's end, of the oldest event entitling a refund that was owed and still not in the ledger; 0 when none."},
			nil),
		lastSuccessEnd: prom.NewGaugeVec(prom.GaugeOpts{Name: name("last_success_timestamp_seconds"),
			Help: "When the last successful run ended, in Unix seconds."},
			nil),
		lastSkip: prom.NewGaugeVec(prom.GaugeOpts{Name: name("last_skip_timestamp_seconds"),
			Help: "When a run was last skipped, in Unix seconds, by reason: locked (another run held the lock), still_running (schedule: this process's previous run was still going). A skip is not a failure."},
			[]string{"reason"}),
		runningAge: prom.NewGaugeVec(prom.GaugeOpts{Name: name("running_run_age_seconds"),
			Help: "How long the run holding the lock had been going when the last run or tick found it taken (the age of its record, on the database's clock); 0 when the last run took the lock itself."},
			nil),
		runningSilent: prom.NewGaugeVec(prom.GaugeOpts{Name: name("running_run_heartbeat_age_seconds"),
			Help: "How long the run holding the lock had not beaten its heartbeat (once a minute) when the last run or tick found the lock taken, on the database's clock: a dead or hung holder's grows; 0 when the last run took the lock itself or the holder wrote no heartbeat."},
			nil),
		oldestUnackedAge: prom.NewGaugeVec(prom.GaugeOpts{Name: name("oldest_unacknowledged_exception_age_seconds"),
			Help: "Age, at the last run's end, of the oldest open exception nobody acknowledged since it (re)opened; 0 when none. Every shard's exceptions."},
			nil),
		openExceptions: prom.NewGaugeVec(prom.GaugeOpts{Name: name("open_exceptions"),
			Help: "Open exceptions after the last run, every shard's, by whether a person acknowledged them since they (re)opened."},
			[]string{"acknowledged"}),
		unmatchedConnects: prom.NewGaugeVec(prom.GaugeOpts{Name: name("unmatched_refunded_connects"),
			Help: "Connects of refund entries in the ledger that no run has matched yet to the rule that entitles them, after the last run matched: age=settling (created inside the settle delay, not matchable yet) or overdue (older: a run should have matched them). Every shard's."},
			[]string{"age"}),
		oldestUnmatchedAge: prom.NewGaugeVec(prom.GaugeOpts{Name: name("oldest_unmatched_refund_age_seconds"),
			Help: "Age, at the last run's end, of the oldest refund entry no run has matched yet; 0 when none. Every shard's."},
			nil),
	}
	b := version.Get()
	buildInfo := prom.NewGauge(prom.GaugeOpts{Name: name("build_info"),
		Help:        "Always 1: which build of connects-reconciler ran (version, revision, goversion), as connects-reconciler --version says.",
		ConstLabels: prom.Labels{"version": b.Version, "revision": b.Revision, "goversion": b.GoVersion}})
	buildInfo.Set(1)
	lastRun := prom.WrapRegistererWith(prom.Labels(labels), m.lastRun)
	lastRun.MustRegister(buildInfo)
	lastRun.MustRegister(m.lastStatus, m.lastEnd, m.lastDuration, m.lastIssued, m.lastConnects,
		m.lastPlanned, m.lastSkipped, m.discrepancies, m.oldestOwedAge, m.lastSuccessEnd, m.lastSkip, m.runningAge, m.runningSilent,
		m.plannedOn, m.replicaLag, m.oldestUnackedAge, m.openExceptions, m.unmatchedConnects, m.oldestUnmatchedAge)
	prom.WrapRegistererWith(prom.Labels(labels), m.process).MustRegister(m.runs, m.refundsIssued, m.connectsRefunded)
	m.process.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, s := range Statuses {
		m.runs.WithLabelValues(s)
	}
	for _, rule := range reconcile.Rules {
		for _, c := range components {
			m.refundsIssued.WithLabelValues(string(rule), string(c))
			m.connectsRefunded.WithLabelValues(string(rule), string(c))
		}
	}
	return m
}

// Run is what the metrics need to know about one run.
type Run struct {
	// Result is what Reconciler.Run returned; nil when the run ended before
	// it was recorded (the lock was taken, the plan failed).
	Result *reconcile.Result
	// Err is the error Reconciler.Run returned.
	Err error
	// Canceled says the run's context was cancelled (SIGTERM, SIGINT).
	Canceled bool
	// Started and Ended bound the run on the wall clock.
	Started, Ended time.Time
	// RunningAge is, for a run that found the lock taken, how long the run
	// holding it had been going (postgres.Store.RunningAge).
	RunningAge time.Duration
	// HolderSilent is, for a run that found the lock taken, how long ago
	// the run holding it last beat its heartbeat.
	HolderSilent time.Duration
}

// Status is the run's outcome: the recorded status, or for a run that ended
// before it was recorded, locked, interrupted or failed.
func (r Run) Status() string {
	switch {
	case r.Result != nil:
		return r.Result.Status
	case errors.Is(r.Err, reconcile.ErrLocked):
		return StatusLocked
	case r.Canceled:
		return reconcile.StatusInterrupted
	case r.Err != nil:
		return reconcile.StatusFailed
	default:
		return reconcile.StatusSucceeded
	}
}

// Record sets the metrics from a run that ended.
func (m *Metrics) Record(r Run) {
	status := r.Status()
	m.runs.WithLabelValues(status).Inc()
	if status == StatusLocked {
		m.lastSkip.WithLabelValues(ReasonLocked).Set(unixSeconds(r.Ended))
		m.runningAge.WithLabelValues().Set(r.RunningAge.Seconds())
		m.runningSilent.WithLabelValues().Set(r.HolderSilent.Seconds())
		return
	}
	m.runningAge.WithLabelValues().Set(0)
	m.runningSilent.WithLabelValues().Set(0)
	for _, s := range lastRunStatuses {
		m.lastStatus.WithLabelValues(s).Set(boolFloat(s == status))
	}
	m.lastEnd.WithLabelValues().Set(unixSeconds(r.Ended))
	m.lastDuration.WithLabelValues().Set(r.Ended.Sub(r.Started).Seconds())

	for _, rule := range reconcile.Rules {
		for _, c := range components {
			a := amountOf(r.Result, rule, c)
			m.lastIssued.WithLabelValues(string(rule), string(c)).Set(float64(a.Refunds))
			m.lastConnects.WithLabelValues(string(rule), string(c)).Set(float64(a.Connects))
			m.refundsIssued.WithLabelValues(string(rule), string(c)).Add(float64(a.Refunds))
			m.connectsRefunded.WithLabelValues(string(rule), string(c)).Add(float64(a.Connects))
		}
	}

	if r.Result != nil && r.Result.Plan != nil {
		plan := r.Result.Plan
		m.lastPlanned.WithLabelValues().Set(float64(plan.Totals().Refunds))
		m.lastSkipped.WithLabelValues().Set(float64(r.Result.SkippedCount()))
		byKind := plan.Totals().DiscrepanciesByKind
		for _, k := range kinds {
			m.discrepancies.WithLabelValues(string(k), plan.Scope).Set(float64(byKind[k]))
		}
		for k, n := range byKind {
			m.discrepancies.WithLabelValues(string(k), plan.Scope).Set(float64(n))
		}
		// Only this run's scope: a schedule process whose first run was a
		// full sweep (no watermark yet) must not serve that sweep's counts
		// beside its incremental runs' for the rest of its life. Dropped
		// after the new values are set, so no scrape finds the family empty.
		for _, scope := range []string{"full", "incremental"} {
			if scope != plan.Scope {
				m.discrepancies.DeletePartialMatch(prom.Labels{"scope": scope})
			}
		}
		m.oldestOwedAge.WithLabelValues().Set(OldestOwedAge(r.Result, r.Ended.Sub(r.Started)).Seconds())
		if plan.PlannedOn != "" {
			for _, on := range []string{reconcile.OnPrimary, reconcile.OnReplica} {
				m.plannedOn.WithLabelValues(on).Set(boolFloat(on == plan.PlannedOn))
			}
			m.replicaLag.WithLabelValues().Set(plan.ReplicaLag.Seconds())
		}
	}
	if r.Result != nil && r.Result.Exceptions != nil {
		ex := r.Result.Exceptions
		m.oldestUnackedAge.WithLabelValues().Set(OldestUnacknowledgedAge(ex, r.Ended.Sub(r.Started)).Seconds())
		m.openExceptions.WithLabelValues("false").Set(float64(ex.Unacknowledged))
		m.openExceptions.WithLabelValues("true").Set(float64(ex.Open - ex.Unacknowledged))
		m.unmatchedConnects.WithLabelValues(AgeSettling).Set(float64(ex.Coverage.Settling.Connects))
		m.unmatchedConnects.WithLabelValues(AgeOverdue).Set(float64(ex.Coverage.Overdue.Connects))
		m.oldestUnmatchedAge.WithLabelValues().Set(OldestUnmatchedAge(ex, r.Ended.Sub(r.Started)).Seconds())
	}
	var lagErr *reconcile.ReplicaLagError
	if errors.As(r.Err, &lagErr) {
		m.plannedOn.WithLabelValues(reconcile.OnPrimary).Set(0)
		m.plannedOn.WithLabelValues(reconcile.OnReplica).Set(1)
		m.replicaLag.WithLabelValues().Set(lagErr.Lag.Seconds())
	}
	if status == reconcile.StatusSucceeded {
		m.lastSuccessEnd.WithLabelValues().Set(unixSeconds(r.Ended))
	}
}

// SkippedStillRunning records a schedule tick skipped because the process's
// previous run, started at started, is still going: counted, and that run's
// age is the running run's age.
func (m *Metrics) SkippedStillRunning(now, started time.Time) {
	m.runs.WithLabelValues(StatusStillRunning).Inc()
	m.lastSkip.WithLabelValues(ReasonStillRunning).Set(unixSeconds(now))
	m.runningAge.WithLabelValues().Set(now.Sub(started).Seconds())
	m.runningSilent.WithLabelValues().Set(0) // the process's own run beats its heartbeat
}

// amountOf is what a run wrote under one rule and component.
func amountOf(res *reconcile.Result, rule reconcile.Rule, c reconcile.Component) reconcile.Amount {
	if res == nil || res.Plan == nil {
		return reconcile.Amount{}
	}
	return res.Issued().ByRuleComponent(rule, c)
}

// OldestOwedAge is how old the result's OldestOwed was when the run ended, on the
// database's clock: the plan's time plus the run's duration on the wall
// clock (took), less the event's time. It is 0 when nothing owed was left.
func OldestOwedAge(res *reconcile.Result, took time.Duration) time.Duration {
	if res == nil || res.Plan == nil {
		return 0
	}
	oldest, err := res.OldestOwed()
	if err != nil {
		// the spool could not be read back: every owed refund the plan
		// found counts, which errs on the side of an alert
		oldest = res.Plan.OldestOwed()
	}
	if oldest == nil || res.Plan.AsOf.IsZero() {
		return 0
	}
	return max(0, res.Plan.AsOf.Add(took).Sub(*oldest))
}

// OldestUnacknowledgedAge is how long the oldest open, unacknowledged
// exception had been open when the run ended, on the database's clock: the
// recording's plan time plus the run's duration (took), less the time it
// (re)opened; 0 when there is none.
func OldestUnacknowledgedAge(ex *reconcile.ExceptionsRecorded, took time.Duration) time.Duration {
	if ex == nil || ex.OldestUnacknowledged == nil || ex.AsOf.IsZero() {
		return 0
	}
	return max(0, ex.AsOf.Add(took).Sub(*ex.OldestUnacknowledged))
}

// Ages of unmatched refund entries (the unmatched_refunded_connects label).
const (
	AgeSettling = "settling" // inside the settle delay: no run may match them yet
	AgeOverdue  = "overdue"  // past it: a run should have matched them
)

// OldestUnmatchedAge is how old the oldest refund entry no run has matched
// was when the run ended, on the database's clock; 0 when there is none.
func OldestUnmatchedAge(ex *reconcile.ExceptionsRecorded, took time.Duration) time.Duration {
	if ex == nil || ex.Coverage.OldestUnmatched == nil || ex.AsOf.IsZero() {
		return 0
	}
	return max(0, ex.AsOf.Add(took).Sub(*ex.Coverage.OldestUnmatched))
}

// Handler serves every metric for scraping: the last run's gauges, the
// process's counters and the Go runtime's metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(prom.Gatherers{m.lastRun, m.process}, promhttp.HandlerOpts{})
}

// Gatherer gathers every metric Handler serves, for tests and tools.
func (m *Metrics) Gatherer() prom.Gatherer { return prom.Gatherers{m.lastRun, m.process} }

// Grouping is the Pushgateway grouping key of a run's pushes besides the
// job: sweep ("full" for runs told to sweep everything, else "incremental")
// and, for a sharded run, shard ("I/N"). Each group keeps its own last
// success, so the daily full sweep and each shard are watched apart.
func Grouping(o reconcile.Options) map[string]string {
	g := map[string]string{"sweep": "incremental"}
	if o.Full {
		g["sweep"] = "full"
	}
	if o.Shard.Sharded() {
		g["shard"] = o.Shard.String()
	}
	return g
}

// Push adds the last run's gauges to the Pushgateway at gatewayURL under the
// job and grouping labels. It pushes with Add (HTTP POST): families this push
// lacks keep their pushed values, so a failed run keeps the last success time
// and the last known oldest owed refund. Credentials in the URL are sent as
// basic auth and never appear in an error.
func (m *Metrics) Push(ctx context.Context, gatewayURL string, grouping map[string]string) error {
	u, err := url.Parse(gatewayURL)
	if err != nil {
		return errors.New("push metrics: the pushgateway URL does not parse")
	}
	user := u.User
	u.User = nil
	p := push.New(u.String(), Job).Gatherer(m.lastRun).Client(&http.Client{Timeout: 10 * time.Second})
	if user != nil {
		pass, _ := user.Password()
		p = p.BasicAuth(user.Username(), pass)
	}
	names := make([]string, 0, len(grouping))
	for k := range grouping {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		p = p.Grouping(k, grouping[k])
	}
	if err := p.AddContext(ctx); err != nil {
		return fmt.Errorf("push metrics to %s: %w", u.Redacted(), err)
	}
	return nil
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
