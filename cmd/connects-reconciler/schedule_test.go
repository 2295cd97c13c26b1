package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/zap/zaptest"

	"github.com/connects/connects-reconciler/cmd/connects-reconciler/internal/service"
	"github.com/connects/connects-reconciler/reconcile"
	"github.com/connects/connects-reconciler/reconcile/postgres"
)

// syncBuffer is a bytes.Buffer that a running program and a test may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freeAddr returns a loopback address with a port nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// waitFor polls cond every 50ms until it holds, failing after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// get returns the status code and body of a GET, or 0 when nothing answers.
func httpGet(url string) (int, string) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// scrape reads a Prometheus text exposition.
func promScrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := httpGet(url)
	if code != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", url, code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("GET %s: not the text format: %v\n%s", url, err, body)
	}
	return families
}

// sample is the value of the one series of name whose labels include want;
// ok is false when there is none.
func promSample(families map[string]*dto.MetricFamily, name string, want map[string]string) (v float64, ok bool) {
	f := families[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

type sampleWant struct {
	name   string
	labels map[string]string
	value  float64
}

func checkPromSamples(t *testing.T, families map[string]*dto.MetricFamily, wants []sampleWant) {
	t.Helper()
	for _, w := range wants {
		got, ok := promSample(families, w.name, w.labels)
		if !ok {
			t.Errorf("%s%v: missing", w.name, w.labels)
			continue
		}
		if got != w.value {
			t.Errorf("%s%v: got %v, want %v", w.name, w.labels, got, w.value)
		}
	}
}

func promLabels(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// TestSchedule runs the schedule command against a real database: runs start
// on the schedule, /healthz, /readyz and /metrics answer, and cancelling the
// context (what SIGTERM does) stops it cleanly.
func TestSchedule(t *testing.T) {
	t.Parallel()
	url, db := smallMarket(t)
	addr := freeAddr(t)
	base := "http://" + addr

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"schedule", "--schedule", "@every 1s", "--time-zone", "Europe/Berlin",
			"--listen-address", addr, "--log-format", "json"},
			func(k string) string { return map[string]string{"DATABASE_URL": url}[k] }, &stdout, &stderr)
	}()

	waitFor(t, 30*time.Second, "/healthz", func() bool {
		select {
		case err := <-done:
			t.Fatalf("schedule ended early: %v\n%s", err, stderr.String())
		default:
		}
		code, _ := httpGet(base + "/healthz")
		return code == http.StatusOK
	})
	// Readiness pings the database within 2 s: on a loaded 2-core CI
	// machine one probe may miss that, as a kubelet's may; it must answer.
	waitFor(t, 30*time.Second, "/readyz 200", func() bool {
		code, _ := httpGet(base + "/readyz")
		return code == http.StatusOK
	})
	// Two runs: the first writes the three missing refunds, the second (an
	// incremental one) finds nothing left.
	// The metrics are recorded after the run record: wait on them.
	var families map[string]*dto.MetricFamily
	waitFor(t, 60*time.Second, "two succeeded runs in /metrics", func() bool {
		families = promScrape(t, base+"/metrics")
		n, _ := promSample(families, "connects_reconciler_runs_total", promLabels("status", "succeeded"))
		_, recorded := promSample(families, "connects_reconciler_discrepancies", promLabels("scope", "incremental"))
		return n >= 2 && recorded // the counter moves before the gauges
	})
	var recorded int
	_ = db.Get(&recorded, `SELECT count(*) FROM reconciler_runs WHERE status = 'succeeded'`)
	if recorded < 2 {
		t.Errorf("succeeded runs recorded: got %d, want at least 2", recorded)
	}
	checkPromSamples(t, families, []sampleWant{
		{"connects_reconciler_refunds_issued_total", promLabels("rule", "closed_without_hire", "component", "base"), 1},
		{"connects_reconciler_connects_refunded_total", promLabels("rule", "closed_without_hire", "component", "base"), 4},
		{"connects_reconciler_refunds_issued_total", promLabels("rule", "tos_removed", "component", "boost"), 1},
		{"connects_reconciler_connects_refunded_total", promLabels("rule", "tos_removed", "component", "boost"), 6},
		{"connects_reconciler_connects_refunded_total", promLabels("rule", "tos_removed", "component", "base"), 2},
		{"connects_reconciler_runs_total", promLabels("status", "failed"), 0},
		// the last run's scope only: the first run's full sweep found proposal
		// 30's unexpected refund, the incremental runs after it look at what
		// changed (TestScheduleFirstFullSweepSeriesDropped)
		{"connects_reconciler_discrepancies", promLabels("kind", "unexpected_refund", "scope", "incremental"), 0},
		{"connects_reconciler_oldest_owed_refund_age_seconds", nil, 0},
	})
	last, ok := promSample(families, "connects_reconciler_last_success_timestamp_seconds", nil)
	if now := float64(time.Now().Unix()); !ok || last < now-60 || last > now+1 {
		t.Errorf("last_success_timestamp_seconds: got %v (present %v), want about %v", last, ok, now)
	}
	if _, ok := promSample(families, "go_goroutines", nil); !ok {
		t.Error("go_goroutines: missing; want the Go runtime's metrics too")
	}

	cancel()
	select {
	case err := <-done:
		// Idle when cancelled: a clean stop. A run in flight: recorded
		// interrupted and a non-zero exit.
		if err != nil {
			if !errors.Is(err, service.ErrInterrupted) {
				t.Fatalf("schedule after cancel: got %v, want nil or service.ErrInterrupted\n%s", err, stderr.String())
			}
			var n int
			_ = db.Get(&n, `SELECT count(*) FROM reconciler_runs WHERE status = 'interrupted'`)
			if n != 1 {
				t.Errorf("stopped mid-run: got %d interrupted runs, want 1", n)
			}
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("schedule did not stop within 30s of cancel\n%s", stderr.String())
	}
	var running int
	_ = db.Get(&running, `SELECT count(*) FROM reconciler_runs WHERE status = 'running'`)
	if running != 0 {
		t.Errorf("after the stop: %d runs still 'running', want 0", running)
	}
	if code, _ := httpGet(base + "/healthz"); code != 0 {
		t.Errorf("after the stop /healthz answered %d; want the server shut down", code)
	}
	for _, line := range []string{`"msg":"scheduled"`, `"time_zone":"Europe/Berlin"`, `"msg":"stopping: no new runs; waiting for the run in flight"`} {
		if !strings.Contains(stderr.String(), line) {
			t.Errorf("log lacks %s:\n%s", line, stderr.String())
		}
	}
}

// TestScheduleDefectGaugeResets: in schedule mode one process records every
// run in the same gauges, so a discrepancy kind a run no longer finds must
// go back to 0, not keep the last run's value. A defect (a job closed for a
// reason the contract does not know) is found by full sweeps, then repaired:
// the next sweep shows 0 for it, and the proposal's refund on the job now
// open is an unexpected_refund again.
func TestScheduleDefectGaugeResets(t *testing.T) {
	t.Parallel()
	url, db := smallMarket(t)
	db.MustExec(`UPDATE jobs SET status = 'closed', close_reason = 'no_reason', closed_at = now() - interval '1 hour' WHERE id = 3`)
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"schedule", "--schedule", "@every 1s", "--full", "--listen-address", addr, "--log-format", "json"},
			func(k string) string { return map[string]string{"DATABASE_URL": url}[k] }, &stdout, &stderr)
	}()
	gauge := func(kind string) (float64, bool) {
		select {
		case err := <-done:
			t.Fatalf("schedule ended early: %v\n%s", err, stderr.String())
		default:
		}
		code, _ := httpGet("http://" + addr + "/metrics")
		if code != http.StatusOK {
			return 0, false
		}
		return promSample(promScrape(t, "http://"+addr+"/metrics"), "connects_reconciler_discrepancies", promLabels("kind", kind, "scope", "full"))
	}
	waitFor(t, 60*time.Second, "invalid_job_state at 1", func() bool { v, ok := gauge("invalid_job_state"); return ok && v == 1 })
	if v, _ := gauge("unexpected_refund"); v != 0 {
		t.Errorf("unexpected_refund while the job's state is invalid: got %v, want 0 (a defect is not judged)", v)
	}
	db.MustExec(`UPDATE jobs SET status = 'open', close_reason = NULL, closed_at = NULL WHERE id = 3`)
	waitFor(t, 60*time.Second, "invalid_job_state back at 0", func() bool { v, ok := gauge("invalid_job_state"); return ok && v == 0 })
	if v, _ := gauge("unexpected_refund"); v != 1 {
		t.Errorf("unexpected_refund after the repair: got %v, want 1", v)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("schedule did not stop within 30s of cancel\n%s", stderr.String())
	}
}

// TestScheduleFirstFullSweepSeriesDropped: an incremental schedule process
// whose first run had no watermark yet swept everything and served the
// full sweep's discrepancies (scope="full"); its later, incremental runs no
// longer find them, so the process must stop serving them, or
// ConnectsDiscrepancies would fire from its stale series until the process
// restarts, however the data is fixed meanwhile.
func TestScheduleFirstFullSweepSeriesDropped(t *testing.T) {
	t.Parallel()
	url, db := smallMarket(t) // proposal 30's refund on the open job 3: an unexpected_refund
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"schedule", "--schedule", "@every 1s", "--listen-address", addr, "--log-format", "json"},
			func(k string) string { return map[string]string{"DATABASE_URL": url}[k] }, &stdout, &stderr)
	}()
	scrape := func() map[string]*dto.MetricFamily {
		select {
		case err := <-done:
			t.Fatalf("schedule ended early: %v\n%s", err, stderr.String())
		default:
		}
		if code, _ := httpGet("http://" + addr + "/metrics"); code != http.StatusOK {
			return nil
		}
		return promScrape(t, "http://"+addr+"/metrics")
	}
	var families map[string]*dto.MetricFamily
	waitFor(t, 60*time.Second, "an incremental run's discrepancies served", func() bool {
		families = scrape()
		_, ok := promSample(families, "connects_reconciler_discrepancies", promLabels("scope", "incremental"))
		return ok
	})
	var first string
	if err := db.Get(&first, `SELECT scope FROM reconciler_runs WHERE status = 'succeeded' ORDER BY started_at LIMIT 1`); err != nil || first != "full" {
		t.Fatalf("the process's first run: scope %q (%v), want full (no watermark yet)", first, err)
	}
	for _, m := range families["connects_reconciler_discrepancies"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "scope" && l.GetValue() != "incremental" {
				t.Errorf("after an incremental run the process still serves %v = %v: the first full sweep's series must be dropped", m.GetLabel(), m.GetGauge().GetValue())
			}
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("schedule did not stop within 30s of cancel\n%s", stderr.String())
	}
}

func TestScheduleBadSettings(t *testing.T) {
	t.Parallel()
	code, _, stderr := invoke(t, map[string]string{"DATABASE_URL": "postgres://127.0.0.1:1/x"},
		"schedule", "--schedule", "every now and then", "--time-zone", "Mars/Olympus", "--listen-address", "nine")
	if code != exitUsage {
		t.Fatalf("exit: got %d, want %d\n%s", code, exitUsage, stderr)
	}
	for _, s := range []string{"flag --schedule", "flag --time-zone", "flag --listen-address"} {
		if !strings.Contains(stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, stderr)
		}
	}
}

// startPushgateway starts Debian's prometheus-pushgateway on a loopback port
// and returns its URL; it is stopped when the test ends.
func startPushgateway(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus-pushgateway")
	if err != nil {
		bin = "/usr/bin/prometheus-pushgateway"
		if _, serr := os.Stat(bin); serr != nil {
			t.Fatalf("prometheus-pushgateway is needed (apt-get install prometheus-pushgateway; .ci/run installs it): %v", err)
		}
	}
	addr := freeAddr(t)
	var out syncBuffer
	cmd := exec.Command(bin, "--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start pushgateway: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	url := "http://" + addr
	waitFor(t, 30*time.Second, "the pushgateway at "+url, func() bool {
		code, _ := httpGet(url + "/-/ready")
		return code == http.StatusOK
	})
	return url
}

// TestRunPushesMetrics pushes a successful run's metrics and then a refused
// run's to a real Pushgateway and checks what it serves: the refusal keeps
// the last success time.
func TestRunPushesMetrics(t *testing.T) {
	t.Parallel()
	gateway := startPushgateway(t)
	url, db := smallMarket(t)
	env := map[string]string{"DATABASE_URL": url, "RECONCILER_PUSHGATEWAY_URL": gateway}
	group := promLabels("job", "connects-reconciler", "sweep", "incremental")
	with := func(kv ...string) map[string]string {
		m := promLabels(kv...)
		for k, v := range group {
			m[k] = v
		}
		return m
	}

	before := float64(time.Now().Unix())
	if code, _, stderr := invoke(t, env, "run", "--format", "json"); code != exitOK {
		t.Fatalf("run: exit %d\n%s", code, stderr)
	}
	families := promScrape(t, gateway+"/metrics")
	checkPromSamples(t, families, []sampleWant{
		{"connects_reconciler_last_run_status", with("status", "succeeded"), 1},
		{"connects_reconciler_last_run_status", with("status", "refused"), 0},
		{"connects_reconciler_last_run_refunds_issued", with("rule", "tos_removed", "component", "boost"), 1},
		{"connects_reconciler_last_run_connects_refunded", with("rule", "tos_removed", "component", "boost"), 6},
		{"connects_reconciler_last_run_connects_refunded", with("rule", "closed_without_hire", "component", "base"), 4},
		{"connects_reconciler_last_run_refunds_planned", group, 3},
		{"connects_reconciler_discrepancies", with("kind", "unexpected_refund", "scope", "full"), 1},
		{"connects_reconciler_oldest_owed_refund_age_seconds", group, 0},
	})
	success, ok := promSample(families, "connects_reconciler_last_success_timestamp_seconds", group)
	if !ok || success < before-1 || success > float64(time.Now().Unix())+1 {
		t.Fatalf("last_success_timestamp_seconds: got %v (present %v), want the run's end", success, ok)
	}
	if _, ok := promSample(families, "connects_reconciler_runs_total", group); ok {
		t.Error("runs_total was pushed; want only the last-run gauges on the Pushgateway")
	}

	// A new closed-without-hire job owes 5 Connects; a limit of 1 refuses
	// the run.
	db.MustExec(`
	INSERT INTO jobs (id, client_id, status, close_reason, closed_at) VALUES (4, 1, 'closed', 'no_hire', now() - interval '30 minutes');
	INSERT INTO proposals (id, job_id, freelancer_id, submitted_at) VALUES (40, 4, 102, now() - interval '1 day');
	INSERT INTO connects_ledger (freelancer_id, amount, entry_type, proposal_id, component, idempotency_key) VALUES (102, -5, 'proposal_fee', 40, 'base', 'f40');
	UPDATE connects_balances SET balance = balance - 5 WHERE freelancer_id = 102;`)
	if code, _, stderr := invoke(t, env, "run", "--format", "json", "--max-connects", "1"); code != exitRefused {
		t.Fatalf("run over the limit: exit %d, want %d\n%s", code, exitRefused, stderr)
	}
	families = promScrape(t, gateway+"/metrics")
	checkPromSamples(t, families, []sampleWant{
		{"connects_reconciler_last_run_status", with("status", "succeeded"), 0},
		{"connects_reconciler_last_run_status", with("status", "refused"), 1},
		{"connects_reconciler_last_run_refunds_issued", with("rule", "tos_removed", "component", "boost"), 0},
		{"connects_reconciler_last_run_refunds_planned", group, 1},
		{"connects_reconciler_last_success_timestamp_seconds", group, success},
	})
	age, _ := promSample(families, "connects_reconciler_oldest_owed_refund_age_seconds", group)
	if age < 30*60 || age > 40*60 {
		t.Errorf("oldest_owed_refund_age_seconds after the refusal: got %v, want about 1800 (the job closed 30 minutes ago)", age)
	}
	end, _ := promSample(families, "connects_reconciler_last_run_timestamp_seconds", group)
	if end < success {
		t.Errorf("last_run_timestamp_seconds: got %v, want at or after the success at %v", end, success)
	}

	// Another run holds the lock, recorded running for 50 minutes: the run is
	// skipped (exit 0) and pushes only the skip and the holder's age; the
	// last run's gauges stay those of the refused run.
	store := postgres.NewStore(db, zaptest.NewLogger(t))
	release, err := store.Lock(context.Background(), reconcile.LockKey(reconcile.Shard{}))
	if err != nil {
		t.Fatal(err)
	}
	db.MustExec(`INSERT INTO reconciler_runs (id, mode, scope, status, started_at, as_of, settle_cutoff, policy)
	    VALUES ('holder', 'run', 'full', 'running', now() - interval '50 minutes', now(), now(), '{}')`)
	code, _, stderr := invoke(t, env, "run", "--format", "json")
	if code != exitOK || !lockSkipped(stderr) {
		t.Fatalf("run with the lock taken: exit %d, want %d and skipped\n%s", code, exitOK, stderr)
	}
	families = promScrape(t, gateway+"/metrics")
	// The holder beat its heartbeat as it took the lock: alive.
	if silent, ok := promSample(families, "connects_reconciler_running_run_heartbeat_age_seconds", group); !ok || silent > 60 {
		t.Errorf("running_run_heartbeat_age_seconds of a live holder: got %v (present %v), want under a minute", silent, ok)
	}
	// The holder goes silent (its last beat 40 minutes ago: a hung pod
	// whose session the server keeps): the skipped run says so.
	db.MustExec(`UPDATE reconciler_lock_heartbeats SET beat_at = now() - interval '40 minutes'`)
	code, _, stderr = invoke(t, env, "run", "--format", "json")
	release()
	if code != exitOK || !lockSkipped(stderr) {
		t.Fatalf("run with the lock taken by a silent holder: exit %d, want %d and skipped\n%s", code, exitOK, stderr)
	}
	families = promScrape(t, gateway+"/metrics")
	if silent, _ := promSample(families, "connects_reconciler_running_run_heartbeat_age_seconds", group); silent < 40*60 || silent > 45*60 {
		t.Errorf("running_run_heartbeat_age_seconds of a holder silent for 40 minutes: got %v, want about 2400", silent)
	}
	checkPromSamples(t, families, []sampleWant{
		{"connects_reconciler_last_run_status", with("status", "refused"), 1},
		{"connects_reconciler_last_run_timestamp_seconds", group, end},
		{"connects_reconciler_last_success_timestamp_seconds", group, success},
	})
	if held, _ := promSample(families, "connects_reconciler_running_run_age_seconds", group); held < 50*60 || held > 55*60 {
		t.Errorf("running_run_age_seconds: got %v, want about 3000 (the holder started 50 minutes ago)", held)
	}
	if skip, ok := promSample(families, "connects_reconciler_last_skip_timestamp_seconds", with("reason", "locked")); !ok || skip < end {
		t.Errorf("last_skip_timestamp_seconds{reason=locked}: got %v (present %v), want the skipped run's end", skip, ok)
	}
}

// TestRunPushFailureKeepsExitCode: an unreachable Pushgateway is logged; the
// run's own outcome decides the exit code.
func TestRunPushFailureKeepsExitCode(t *testing.T) {
	t.Parallel()
	url, _ := smallMarket(t)
	env := map[string]string{"DATABASE_URL": url, "RECONCILER_PUSHGATEWAY_URL": "http://user:s3cret@" + freeAddr(t)}
	code, _, stderr := invoke(t, env, "run", "--format", "json", "--log-format", "json")
	if code != exitOK {
		t.Fatalf("exit: got %d, want %d\n%s", code, exitOK, stderr)
	}
	if !strings.Contains(stderr, "metrics not pushed") {
		t.Errorf("stderr lacks the push failure:\n%s", stderr)
	}
	if strings.Contains(stderr, "s3cret") {
		t.Errorf("the Pushgateway password was logged:\n%s", stderr)
	}
}
