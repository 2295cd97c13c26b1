package k8s_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/connects/connects-reconciler/reconcile/prometheus"
)

// jobFilter is the one matcher every dashboard query selects its series
// with: the dashboard's $job variable.
const jobFilter = `job=~"$job"`

var (
	// a metric name and the label matchers right after it, if any
	selector = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?`)
	// an aggregation's grouping: sum by (a, b) or max without (c)
	byClause = regexp.MustCompile(`\b(by|without)\s*\(([^)]*)\)`)
	legend   = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)
)

// targetLabels are the labels Prometheus gives every series it scrapes or
// ingests from the Pushgateway (honor_labels keeps the pushed job).
var targetLabels = []string{"job", "instance"}

// groupingLabels are the labels a push gets from its grouping key and the
// schedule process serves as constant labels: every connects_reconciler_
// series has sweep, and shard when sharded.
var groupingLabels = []string{"sweep", "shard"}

type dashboardTarget struct {
	Expr         string `json:"expr"`
	LegendFormat string `json:"legendFormat"`
}

type dashboard struct {
	Templating struct {
		List []struct {
			Name    string `json:"name"`
			Current struct {
				Value string `json:"value"`
			} `json:"current"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Title   string            `json:"title"`
		Targets []dashboardTarget `json:"targets"`
	} `json:"panels"`
}

// selectors returns each metric the expression selects with the text of
// its label matchers ("" when it has none).
func selectors(expr string) map[string][]string {
	names := map[string]bool{}
	for _, n := range metricNames(expr) {
		names[n] = true
	}
	out := map[string][]string{}
	for _, m := range selector.FindAllStringSubmatch(expr, -1) {
		if names[m[1]] {
			out[m[1]] = append(out[m[1]], m[2])
		}
	}
	return out
}

// Every dashboard panel filters its series the same way, by the $job
// variable (whose default selects both the Pushgateway's group and the
// ServiceMonitor's scrape job), and groups and names series only by labels
// the metric it aggregates has.
func TestDashboardFiltersAndGroupings(t *testing.T) {
	t.Parallel()
	_, labels := exportedSeries(t)
	has := func(metric, label string) bool {
		if slices.Contains(targetLabels, label) {
			return true
		}
		base := metric
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(metric, suf); ok && labels[b] != nil {
				base = b
			}
		}
		if strings.HasPrefix(base, "connects_reconciler_") && slices.Contains(groupingLabels, label) {
			return true
		}
		return labels[base][label] || (base != metric && label == "le")
	}

	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var job string
	for _, v := range d.Templating.List {
		if v.Name == "job" {
			job = v.Current.Value
		}
	}
	if job == "" {
		t.Fatalf("%s: no $job variable with a default", dashboardFile)
	}
	if !regexp.MustCompile(`^(?:` + job + `)$`).MatchString(prometheus.Job) {
		t.Errorf("%s: $job defaults to %q, which does not match %q, the job of the pushes and of the ServiceMonitor",
			dashboardFile, job, prometheus.Job)
	}

	for _, p := range d.Panels {
		for _, q := range p.Targets {
			where := dashboardFile + ": " + p.Title + ": " + q.Expr
			sels := selectors(q.Expr)
			for metric, matchers := range sels {
				for _, m := range matchers {
					if !strings.Contains(m, jobFilter) {
						t.Errorf("%s: %s%s is not filtered by %s", where, metric, m, jobFilter)
					}
				}
			}
			// every label an aggregation keeps must be one its metrics have
			var kept []string
			for _, g := range byClause.FindAllStringSubmatch(q.Expr, -1) {
				for l := range strings.SplitSeq(g[2], ",") {
					if l = strings.TrimSpace(l); l == "" {
						continue
					}
					if g[1] == "by" {
						kept = append(kept, l)
					}
					for metric := range sels {
						if !has(metric, l) {
							t.Errorf("%s: %s (%s): %q is a label %s does not have", where, g[1], g[2], l, metric)
						}
					}
				}
			}
			// the legend names only labels the result has
			for _, m := range legend.FindAllStringSubmatch(q.LegendFormat, -1) {
				l := m[1]
				if len(kept) > 0 && !slices.Contains(kept, l) {
					t.Errorf("%s: legend {{%s}}: the aggregation keeps only %v", where, l, kept)
					continue
				}
				for metric := range sels {
					if !has(metric, l) {
						t.Errorf("%s: legend {{%s}}: %s has no such label", where, l, metric)
					}
				}
			}
		}
	}
}

// The check itself: a selector without the filter, a grouping by a label
// the metric lacks and a legend of a label the aggregation drops are found.
func TestDashboardCheckCatches(t *testing.T) {
	t.Parallel()
	sels := selectors(`max by (sweep) (process_resident_memory_bytes) + sum(increase(connects_reconciler_runs_total{job=~"$job"}[1h]))`)
	if m := sels["process_resident_memory_bytes"]; len(m) != 1 || strings.Contains(m[0], jobFilter) {
		t.Errorf("process_resident_memory_bytes: got matchers %q, want one without the filter", m)
	}
	if m := sels["connects_reconciler_runs_total"]; len(m) != 1 || !strings.Contains(m[0], jobFilter) {
		t.Errorf("connects_reconciler_runs_total: got matchers %q, want the filter", m)
	}
	_, labels := exportedSeries(t)
	if labels["process_resident_memory_bytes"]["sweep"] {
		t.Error("process_resident_memory_bytes has a sweep label in the registry: the fixture no longer models the schedule process")
	}
}
