package k8s_test

import (
	"encoding/json"
	"flag"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/connects/connects-reconciler/reconcile"
	"github.com/connects/connects-reconciler/reconcile/prometheus"
)

var update = flag.Bool("update", false, "rewrite components/monitoring/prometheusrule.yaml from monitoring/alerts.yaml")

const (
	alertsFile    = "monitoring/alerts.yaml"
	dashboardFile = "monitoring/dashboard.json"
	ruleFile      = "components/monitoring/prometheusrule.yaml"
)

// ruleGroups reads the plain rules file.
func ruleGroups(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var rules map[string]any
	if err := yaml.UnmarshalStrict(b, &rules); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	return rules
}

// The PrometheusRule of the monitoring component holds exactly the plain
// rules file's groups, and renders through kustomize.
func TestPrometheusRule(t *testing.T) {
	t.Parallel()
	rules := ruleGroups(t)
	want := map[string]any{
		"apiVersion": "monitoring.coreos.com/v1",
		"kind":       "PrometheusRule",
		"metadata":   map[string]any{"name": "connects-reconciler"},
		"spec":       rules,
	}
	if *update {
		y, err := yaml.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		header := "# Generated from ../../monitoring/alerts.yaml by `cd k8s && go test -run TestPrometheusRule -update`:\n# edit that file, not this one.\n"
		if err := os.WriteFile(ruleFile, append([]byte(header), y...), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(ruleFile)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := yaml.UnmarshalStrict(b, &got); err != nil {
		t.Fatalf("%s: %v", ruleFile, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s differs from %s: run `cd k8s && go test -run TestPrometheusRule -update`", ruleFile, alertsFile)
	}

	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resMap, err := k.Run(filesys.MakeFsOnDisk(), "testdata/prometheus-operator")
	if err != nil {
		t.Fatalf("kustomize with the monitoring component: %v", err)
	}
	var found bool
	for _, res := range resMap.Resources() {
		if res.GetKind() != "PrometheusRule" {
			continue
		}
		found = true
		m, err := res.Map()
		if err != nil {
			t.Fatal(err)
		}
		j, _ := json.Marshal(m["spec"])
		var spec map[string]any
		_ = json.Unmarshal(j, &spec)
		wj, _ := json.Marshal(rules)
		var wantSpec map[string]any
		_ = json.Unmarshal(wj, &wantSpec)
		if !reflect.DeepEqual(spec, wantSpec) {
			t.Errorf("rendered PrometheusRule %s: spec differs from %s", res.GetName(), alertsFile)
		}
	}
	if !found {
		t.Error("the monitoring component renders no PrometheusRule")
	}
}

// exported lists every metric name the job exports, from a real registry:
// metrics after a run that planned and wrote, a skipped one and a skipped
// schedule tick (so that every family has a series), with the Go runtime's
// and the process's.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	names, _ := exportedSeries(t)
	return names
}

// exportedSeries is exported's names, and the label names each one's
// series carry in the registry (without the target's job and instance, and
// without the grouping labels a push adds).
func exportedSeries(t *testing.T) (map[string]bool, map[string]map[string]bool) {
	t.Helper()
	m := prometheus.NewLabelled(prometheus.Grouping(reconcile.Options{}))
	now := time.Now()
	event := now.Add(-time.Hour)
	plan := &reconcile.Plan{AsOf: now, Scope: "full", PlannedOn: reconcile.OnReplica, ReplicaLag: 2 * time.Second}
	for _, f := range []reconcile.Verdict{
		{ProposalID: 1, Component: reconcile.Base, Rule: reconcile.RuleClosedWithoutHire, Charged: 4, EventAt: &event, State: reconcile.MissingRefund},
		{ProposalID: 1, Component: reconcile.Boost, Rule: reconcile.RuleClosedWithoutHire, Charged: 2, EventAt: &event, State: reconcile.PendingRefund},
		{ProposalID: 2, Component: reconcile.Base, Refunded: 3, State: reconcile.UnexpectedRefund},
	} {
		if err := plan.Add(f); err != nil {
			t.Fatal(err)
		}
	}
	refunds, err := plan.Refunds()
	if err != nil {
		t.Fatal(err)
	}
	batch := make([]reconcile.Verdict, len(refunds))
	for i, rf := range refunds {
		batch[i] = reconcile.Verdict(rf)
	}
	res := &reconcile.Result{Status: reconcile.StatusSucceeded, Plan: plan}
	if err := res.Record(batch); err != nil { // planned, all skipped (no ledger entry)
		t.Fatal(err)
	}
	for i := range batch {
		batch[i].LedgerEntryID = int64(100 + i)
	}
	oldest := now.Add(-8 * 24 * time.Hour)
	res2 := &reconcile.Result{Status: reconcile.StatusSucceeded, Plan: plan,
		Exceptions: &reconcile.ExceptionsRecorded{Open: 2, Unacknowledged: 1, OldestUnacknowledged: &oldest}}
	if err := res2.Record(batch); err != nil { // planned, all written
		t.Fatal(err)
	}
	m.Record(prometheus.Run{Result: res, Started: now.Add(-time.Minute), Ended: now})
	m.Record(prometheus.Run{Result: res2, Started: now.Add(-time.Minute), Ended: now})
	m.Record(prometheus.Run{Err: reconcile.ErrLocked, Started: now, Ended: now, RunningAge: time.Minute, HolderSilent: time.Second})
	m.SkippedStillRunning(now, now.Add(-time.Minute))
	mfs, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	labels := map[string]map[string]bool{}
	for _, mf := range mfs {
		n := mf.GetName()
		names[n] = true
		labels[n] = map[string]bool{}
		for _, s := range mf.GetMetric() {
			for _, l := range s.GetLabel() {
				labels[n][l.GetName()] = true
			}
		}
		switch mf.GetType().String() {
		case "SUMMARY", "HISTOGRAM":
			names[n+"_sum"], names[n+"_count"], names[n+"_bucket"] = true, true, true
		}
	}
	for _, want := range []string{"connects_reconciler_last_run_status", "connects_reconciler_running_run_age_seconds",
		"connects_reconciler_last_skip_timestamp_seconds", "connects_reconciler_runs_total", "process_resident_memory_bytes"} {
		if !names[want] {
			t.Fatalf("the registry gathered no %s: the fixture run misses a family", want)
		}
	}
	return names, labels
}

var (
	quoted    = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	braces    = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]`)
	grouping  = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	ident     = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	notMetric = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true,
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true, "inf": true, "nan": true}
)

// metricNames returns the metric names a PromQL expression selects: every
// identifier outside strings, label matchers, ranges and grouping clauses
// that is neither a keyword nor called as a function.
func metricNames(expr string) []string {
	e := quoted.ReplaceAllString(expr, `""`)
	e = braces.ReplaceAllString(e, " ")
	e = grouping.ReplaceAllString(e, " ")
	var out []string
	for _, loc := range ident.FindAllStringIndex(e, -1) {
		name := e[loc[0]:loc[1]]
		rest := strings.TrimLeft(e[loc[1]:], " \t\n")
		if loc[0] > 0 && (e[loc[0]-1] == '.' || e[loc[0]-1] >= '0' && e[loc[0]-1] <= '9') {
			continue // a number's exponent or a duration's unit
		}
		if notMetric[strings.ToLower(name)] || strings.HasPrefix(rest, "(") {
			continue
		}
		out = append(out, name)
	}
	return out
}

func TestMetricNames(t *testing.T) {
	t.Parallel()
	got := metricNames(`time() - max by (sweep, shard) (a_b{sweep="full", x=~"y|z"} or c:d[5m] offset 1h) > 26 * 3600 and on () absent(e) unless f > 1e3`)
	if want := []string{"a_b", "c:d", "e", "f"}; !slices.Equal(got, want) {
		t.Errorf("metricNames: got %v, want %v", got, want)
	}
}

// Every expression of the dashboard and of the alert rules names only
// metrics the job exports, and every dashboard panel has one.
func TestDashboardAndAlertsUseExportedMetrics(t *testing.T) {
	t.Parallel()
	names := exported(t)
	check := func(where, expr string) {
		t.Helper()
		ms := metricNames(expr)
		if len(ms) == 0 {
			t.Errorf("%s: %q names no metric", where, expr)
		}
		for _, n := range ms {
			if !names[n] {
				t.Errorf("%s: %q: %s is not a metric the job exports", where, expr, n)
			}
		}
	}

	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if len(dash.Panels) == 0 {
		t.Fatalf("%s: no panels", dashboardFile)
	}
	used := map[string]bool{}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("%s: panel %q has no query", dashboardFile, p.Title)
		}
		for _, q := range p.Targets {
			check(dashboardFile+": "+p.Title, q.Expr)
			for _, n := range metricNames(q.Expr) {
				used[n] = true
			}
		}
	}
	var missing []string
	for n := range names {
		if strings.HasPrefix(n, "connects_reconciler_") && !used[n] {
			missing = append(missing, n)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%s shows no panel of %v", dashboardFile, missing)
	}

	var alerts struct {
		Groups []struct {
			Rules []struct {
				Alert string `json:"alert"`
				Expr  string `json:"expr"`
			} `json:"rules"`
		} `json:"groups"`
	}
	b, _ = os.ReadFile(alertsFile)
	if err := yaml.Unmarshal(b, &alerts); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range alerts.Groups {
		for _, r := range g.Rules {
			check(alertsFile+": "+r.Alert, r.Expr)
			n++
		}
	}
	if n == 0 {
		t.Fatalf("%s: no rules", alertsFile)
	}
}
