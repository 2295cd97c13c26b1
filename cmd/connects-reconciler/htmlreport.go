package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/connects/connects-reconciler/reconcile"
)

// The report's table lengths: the rest is in the export.
const (
	reportMaxRows     = 200
	reportMaxRuns     = 100
	reportAllRunsUpTo = 50
)

func cmdReport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newCommand("report", "Write one self-contained HTML page for finance: refunds per day by rule, totals that tie to the export, discrepancies, missing refunds, and the runs of a period.", stderr)
	from := c.fs.String("from", "", "start of the period, inclusive: a date (2026-11-01, UTC midnight) or an RFC 3339 time")
	to := c.fs.String("to", "", "end of the period, exclusive: a date or an RFC 3339 time")
	out := c.fs.String("out", "", "the HTML file to write (default stdout)")
	if err := c.parse(args, getenv, stderr); err != nil {
		return err
	}
	p, err := parsePeriod(*from, *to)
	if err != nil {
		return usageError{"report: " + err.Error()}
	}
	start := time.Now()
	c.logConfig(c.log)
	db, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	defer c.closeReplica()
	f := newFinance(c, db)
	data, err := f.report(ctx, p)
	if err != nil {
		return err
	}
	write := func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		if err := reportTemplate.Execute(bw, data); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		return bw.Flush()
	}
	if *out == "" {
		err = write(stdout)
	} else {
		var b strings.Builder
		if err = write(&b); err == nil {
			err = writeFileAtomic(*out, []byte(b.String()))
		}
	}
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	c.log.Info("report written", zap.String("out", *out), zap.Int64("refunds", data.Totals.Refunds),
		zap.Int("discrepancies", len(data.allDiscrepancies)), zap.Int("runs", data.RunCount), zap.Duration("took", time.Since(start)))
	return nil
}

// reportData is everything the page shows.
type reportData struct {
	Period      period
	GeneratedAt time.Time
	Complete    bool
	Price       reconcile.Price
	Policy      reconcile.Policy

	Totals    totals
	TotalRows []totalRow
	// ExportRows and ExportSHA256 identify the refunds export (CSV) of the
	// same period: the totals above are its sums.
	ExportRows   int64
	ExportSHA256 string

	Chart chart

	PlanAsOf          time.Time
	DiscrepancyCounts []kindCount
	Missing           []reportDiscrepancy
	MissingMore       int
	Others            []reportDiscrepancy
	OthersMore        int
	allDiscrepancies  []discrepancy

	RunCount     int
	RunsByStatus []kindCount
	Runs         []reconcile.RunSummary
	RunsNote     string
}

type totalRow struct {
	Rule, Component, IssuedBy string
	amount
}

type kindCount struct {
	Kind  string
	Count int64
	Value reconcile.Cents
	Diff  int64
}

type reportDiscrepancy struct {
	discrepancy
	Age string
}

func (f *finance) report(ctx context.Context, p period) (*reportData, error) {
	d := &reportData{Period: p, Price: f.price(), Policy: f.policy()}
	var err error
	if d.GeneratedAt, d.Complete, err = f.asOf(ctx, p); err != nil {
		return nil, err
	}
	// The refunds export of the period, streamed into a hash only: the page's
	// totals and its checksum come from the very rows the export writes.
	h := sha256.New()
	bw := bufio.NewWriterSize(h, 1<<16)
	cw := csv.NewWriter(bw)
	cw.UseCRLF = true
	if err := cw.Write(refundColumns); err != nil {
		return nil, err
	}
	s, err := f.streamRefunds(ctx, p, func(r reconcile.LedgerRefund, v reconcile.Cents) error {
		return cw.Write(refundRecord(r, v))
	})
	if err != nil {
		return nil, err
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	d.Totals, d.ExportRows, d.ExportSHA256 = s.totals(), s.total.Refunds, hexSum(h)
	d.TotalRows = totalRows(s)
	d.Chart = drawChart(p, s)

	plan, ds, err := f.discrepancies(ctx)
	if err != nil {
		return nil, err
	}
	d.PlanAsOf, d.allDiscrepancies = plan.AsOf, ds
	t := sumDiscrepancies(ds)
	for _, k := range discrepancyOrder {
		sum := t.ByKind[k]
		d.DiscrepancyCounts = append(d.DiscrepancyCounts, kindCount{Kind: k, Count: sum.Count, Value: sum.ValueUSD, Diff: sum.Difference})
	}
	var missing, others []reportDiscrepancy
	for _, x := range ds {
		rd := reportDiscrepancy{discrepancy: x}
		if x.AgeSeconds != nil {
			rd.Age = humanAge(time.Duration(*x.AgeSeconds) * time.Second)
		}
		if x.Kind == missingRefund || x.Kind == pendingRefund {
			missing = append(missing, rd)
		} else {
			others = append(others, rd)
		}
	}
	// Oldest missing refunds first: they are the ones to chase.
	sort.SliceStable(missing, func(i, j int) bool { return ageOf(missing[i]) > ageOf(missing[j]) })
	d.Missing, d.MissingMore = capRows(missing, reportMaxRows)
	d.Others, d.OthersMore = capRows(others, reportMaxRows)

	runs, err := f.store.Runs(ctx, p.From, p.To)
	if err != nil {
		return nil, err
	}
	d.RunCount = len(runs)
	status := map[string]int64{}
	for _, r := range runs {
		status[r.Status]++
	}
	for _, k := range sortedKeysOf(status) {
		d.RunsByStatus = append(d.RunsByStatus, kindCount{Kind: k, Count: status[k]})
	}
	d.Runs, d.RunsNote = pickRuns(runs)
	return d, nil
}

func ageOf(d reportDiscrepancy) int64 {
	if d.AgeSeconds == nil {
		return -1
	}
	return *d.AgeSeconds
}

func capRows[T any](rows []T, n int) ([]T, int) {
	if len(rows) <= n {
		return rows, 0
	}
	return rows[:n], len(rows) - n
}

func sortedKeysOf[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// pickRuns lists every run of a quiet period; of a busy one, the runs that
// wrote something or did not succeed, newest first.
func pickRuns(runs []reconcile.RunSummary) ([]reconcile.RunSummary, string) {
	if len(runs) <= reportAllRunsUpTo {
		return runs, ""
	}
	var picked []reconcile.RunSummary
	for i := len(runs) - 1; i >= 0; i-- {
		r := runs[i]
		if r.RefundsIssued > 0 || r.Status != reconcile.StatusSucceeded || r.Mode != "run" {
			picked = append(picked, r)
		}
	}
	note := fmt.Sprintf("%d runs in the period; listed: the %d that wrote refunds, applied a reviewed plan or did not succeed, newest first", len(runs), len(picked))
	if len(picked) > reportMaxRuns {
		note = fmt.Sprintf("%d runs in the period; listed: the newest %d of the %d that wrote refunds, applied a reviewed plan or did not succeed", len(runs), reportMaxRuns, len(picked))
		picked = picked[:reportMaxRuns]
	}
	return picked, note + " (all of them: SELECT * FROM reconciler_runs)."
}

func humanAge(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
	}
}

// totalRows are the period's totals per rule, component and issuer.
func totalRows(s *summary) []totalRow {
	type key struct {
		rule      reconcile.Rule
		component reconcile.Component
		issuedBy  string
	}
	m := map[key]*amount{}
	for k, a := range s.groups {
		x := get(m, key{k.Rule, k.Component, k.IssuedBy})
		x.Refunds += a.Refunds
		x.Connects += a.Connects
		x.Value += a.Value
	}
	var rows []totalRow
	for k, a := range m {
		rule := string(k.rule)
		if rule == "" {
			rule = "none"
		}
		rows = append(rows, totalRow{Rule: rule, Component: string(k.component), IssuedBy: k.issuedBy, amount: *a})
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if ra, rb := ruleRank(reconcile.Rule(strings.TrimSuffix(a.Rule, "none"))), ruleRank(reconcile.Rule(strings.TrimSuffix(b.Rule, "none"))); ra != rb {
			return ra < rb
		}
		if a.Component != b.Component {
			return a.Component < b.Component
		}
		return a.IssuedBy < b.IssuedBy
	})
	return rows
}

// The chart's series: the rules in precedence order, then refunds no rule
// entitles now.
var chartSeries = []struct {
	rule  reconcile.Rule
	label string
	color string
}{
	{reconcile.RuleTOSRemoved, "tos_removed", "#d95f02"},
	{reconcile.RuleClosedWithoutHire, "closed_without_hire", "#1b9e77"},
	{reconcile.RuleBoostOutbid, "boost_outbid", "#7570b3"},
	{"", "no rule now (see discrepancies)", "#9a9a9a"},
}

// chart is an SVG bar chart drawn here, in user units of its viewBox.
type chart struct {
	Width, Height int
	Bars          []bar
	YTicks        []tick
	XTicks        []tick
	Legend        []legendItem
	PlotLeft      int
	PlotRight     int
	PlotTop       int
	PlotBottom    int
	Empty         bool
}

type bar struct {
	X, Y, W, H string
	Color      string
	Title      string
}

type tick struct {
	Pos   string
	Label string
}

type legendItem struct {
	X     int
	Color string
	Label string
}

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// drawChart stacks, per UTC day of the period, the number of refunds by rule.
func drawChart(p period, s *summary) chart {
	c := chart{Width: 1160, Height: 360, PlotLeft: 64, PlotRight: 1144, PlotTop: 48, PlotBottom: 320}
	type dayAmounts map[reconcile.Rule]*amount
	perDay := map[string]dayAmounts{}
	for k, a := range s.groups {
		d, ok := perDay[k.Day]
		if !ok {
			d = dayAmounts{}
			perDay[k.Day] = d
		}
		x := get(d, k.Rule)
		x.Refunds += a.Refunds
		x.Connects += a.Connects
		x.Value += a.Value
	}
	var days []string
	for d := p.From.Truncate(24 * time.Hour); d.Before(p.To); d = d.Add(24 * time.Hour) {
		days = append(days, d.Format("2006-01-02"))
	}
	var most int64
	for _, d := range perDay {
		var n int64
		for _, a := range d {
			n += a.Refunds
		}
		most = max(most, n)
	}
	c.Empty = most == 0
	top, step := niceScale(most)
	plotH := float64(c.PlotBottom - c.PlotTop)
	for v := int64(0); v <= top; v += step {
		y := float64(c.PlotBottom) - float64(v)/float64(top)*plotH
		c.YTicks = append(c.YTicks, tick{Pos: f1(y), Label: groupThousands(strconv.FormatInt(v, 10))})
	}
	slot := float64(c.PlotRight-c.PlotLeft) / float64(max(1, len(days)))
	barW := math.Max(1, slot*0.72)
	labelEvery := int(math.Ceil(float64(len(days)) / 16))
	for i, day := range days {
		x := float64(c.PlotLeft) + float64(i)*slot + (slot-barW)/2
		if i%labelEvery == 0 {
			c.XTicks = append(c.XTicks, tick{Pos: f1(x + barW/2), Label: day[5:]})
		}
		base := float64(c.PlotBottom)
		for _, series := range chartSeries {
			a, ok := perDay[day][series.rule]
			if !ok || a.Refunds == 0 {
				continue
			}
			h := float64(a.Refunds) / float64(top) * plotH
			base -= h
			c.Bars = append(c.Bars, bar{X: f1(x), Y: f1(base), W: f1(barW), H: f1(h), Color: series.color,
				Title: fmt.Sprintf("%s %s: %d refunds, %d Connects, $%s", day, series.label, a.Refunds, a.Connects, a.Value)})
		}
	}
	lx := c.PlotLeft
	for _, series := range chartSeries {
		c.Legend = append(c.Legend, legendItem{X: lx, Color: series.color, Label: series.label})
		lx += 28 + 8*len(series.label)
	}
	return c
}

// niceScale returns an axis top of at least most, and a step giving about
// five gridlines on round numbers.
func niceScale(most int64) (top, step int64) {
	if most <= 0 {
		return 5, 1
	}
	raw := float64(most) / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = int64(math.Max(1, math.Ceil(m*mag)))
			break
		}
	}
	top = (most + step - 1) / step * step
	return top, step
}

var reportFuncs = template.FuncMap{
	"ts":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"short": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
	"took": func(start time.Time, end *time.Time) string {
		if end == nil {
			return "—"
		}
		d := end.Sub(start)
		if d < time.Minute {
			return d.Round(100 * time.Millisecond).String()
		}
		return d.Round(time.Second).String()
	},
	"day": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"num": func(v int64) string { return groupThousands(strconv.FormatInt(v, 10)) },
	"usd": func(c reconcile.Cents) string {
		s := c.String()
		neg := strings.HasPrefix(s, "-")
		s = strings.TrimPrefix(s, "-")
		whole, frac, _ := strings.Cut(s, ".")
		out := "$" + groupThousands(whole) + "." + frac
		if neg {
			out = "−" + out
		}
		return out
	},
	"dash": func(s string) string {
		if s == "" {
			return "—"
		}
		return s
	},
	"id": func(v int64) string {
		if v == 0 {
			return "—"
		}
		return strconv.FormatInt(v, 10)
	},
	"usd_price": func(p reconcile.Price) string { return "$" + p.String() },
	"len64":     func(rows []reportDiscrepancy, more int) int64 { return int64(len(rows) + more) },
	"int64":     func(n int) int64 { return int64(n) },
	"plus":      func(a, b int) int { return a + b },
	"minus":     func(a, b int) int { return a - b },
	"half":      func(a int) int { return a / 2 },
	"iso": func(t time.Time) string {
		if t.Equal(t.Truncate(24 * time.Hour)) {
			return t.UTC().Format("2006-01-02")
		}
		return t.UTC().Format(time.RFC3339Nano)
	},
	"deref": func(s *string) string {
		if s == nil {
			return "—"
		}
		t, err := time.Parse(timeLayout, *s)
		if err != nil {
			return *s
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
}

func groupThousands(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

var reportTemplate = template.Must(template.New("report").Funcs(reportFuncs).Parse(reportHTML))

// reportHTML is the page: no script, no external font, stylesheet or image;
// the chart is inline SVG.
const reportHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Connects refunds {{day .Period.From}} to {{day .Period.To}}</title>
<style>
  :root { --ink: #1d2330; --muted: #5b6475; --line: #d9dee7; --bg: #f6f7f9; --warn: #b3261e; }
  * { box-sizing: border-box; }
  body { margin: 0; background: var(--bg); color: var(--ink);
         font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", "Liberation Sans", Arial, sans-serif; }
  main { max-width: 1200px; margin: 0 auto; padding: 24px 20px 48px; }
  h1 { font-size: 24px; margin: 0 0 4px; }
  h2 { font-size: 18px; margin: 32px 0 8px; }
  p.sub, .note { color: var(--muted); margin: 4px 0 12px; }
  section.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px; margin-top: 16px; }
  .kpis { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 16px; margin-top: 16px; }
  .kpi { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; }
  .kpi .v { font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
  .kpi .k { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
  .kpi.warn .v { color: var(--warn); }
  table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
  th, td { text-align: left; padding: 5px 10px; border-bottom: 1px solid var(--line); white-space: nowrap; }
  th { font-size: 12px; color: var(--muted); font-weight: 600; background: #fafbfc; }
  td.n, th.n { text-align: right; }
  tr.total td { font-weight: 700; border-top: 2px solid var(--ink); }
  code { font: 12px ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; background: #eef1f5; padding: 1px 4px; border-radius: 3px; word-break: break-all; }
  .scroll { overflow-x: auto; }
  td.wrap { white-space: normal; min-width: 200px; }
  svg text { font-family: inherit; fill: var(--muted); font-size: 12px; }
  .status-succeeded { color: #1b7a3d; } .status-failed, .status-refused, .status-interrupted, .status-abandoned { color: var(--warn); font-weight: 600; }
  footer { color: var(--muted); margin-top: 32px; font-size: 12px; }
</style>
</head>
<body>
<main>
<h1>Connects refunds</h1>
<p class="sub">Period {{day .Period.From}} to {{day .Period.To}} (half-open: the end is not included) ·
{{if .Complete}}complete: the period ended before this report{{else}}<strong>the period is still running</strong>: data as of {{ts .GeneratedAt}}{{end}}
· value at {{usd_price .Price}} per Connect</p>

<div class="kpis">
  <div class="kpi"><div class="k">Refunds</div><div class="v">{{num .Totals.Refunds}}</div></div>
  <div class="kpi"><div class="k">Connects refunded</div><div class="v">{{num .Totals.Connects}}</div></div>
  <div class="kpi"><div class="k">Value</div><div class="v">{{usd .Totals.Value}}</div></div>
  {{with index .Totals.ByIssuer "reconciler"}}<div class="kpi"><div class="k">Written by the job</div><div class="v">{{num .Refunds}}</div></div>{{end}}
  <div class="kpi{{if .Missing}} warn{{end}}"><div class="k">Owed, missing now</div><div class="v">{{num (len64 .Missing .MissingMore)}}</div></div>
  <div class="kpi{{if .Others}} warn{{end}}"><div class="k">Other discrepancies now</div><div class="v">{{num (len64 .Others .OthersMore)}}</div></div>
</div>

<section class="card">
<h2 style="margin-top:0">Refunds per day, by rule</h2>
<p class="note">Number of refund entries created each day (UTC), whoever wrote them; online refunds carry the rule the policy assigns now. Hover a bar for its Connects and value.</p>
<svg viewBox="0 0 {{.Chart.Width}} {{.Chart.Height}}" width="100%" role="img" aria-label="Refunds per day by rule">
  {{range .Chart.Legend}}<rect x="{{.X}}" y="12" width="14" height="14" rx="2" fill="{{.Color}}"></rect><text x="{{plus .X 20}}" y="24">{{.Label}}</text>
  {{end}}
  {{range .Chart.YTicks}}<line x1="{{$.Chart.PlotLeft}}" x2="{{$.Chart.PlotRight}}" y1="{{.Pos}}" y2="{{.Pos}}" stroke="#e3e7ee"></line><text x="{{minus $.Chart.PlotLeft 8}}" y="{{.Pos}}" dy="4" text-anchor="end">{{.Label}}</text>
  {{end}}
  {{range .Chart.Bars}}<rect x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}" fill="{{.Color}}"><title>{{.Title}}</title></rect>
  {{end}}
  <line x1="{{.Chart.PlotLeft}}" x2="{{.Chart.PlotRight}}" y1="{{.Chart.PlotBottom}}" y2="{{.Chart.PlotBottom}}" stroke="#8a93a3"></line>
  {{range .Chart.XTicks}}<text x="{{.Pos}}" y="{{plus $.Chart.PlotBottom 20}}" text-anchor="middle">{{.Label}}</text>
  {{end}}
  {{if .Chart.Empty}}<text x="{{half .Chart.Width}}" y="{{half .Chart.Height}}" text-anchor="middle">No refunds in this period</text>{{end}}
</svg>
</section>

<section class="card">
<h2 style="margin-top:0">Totals by rule, component and issuer</h2>
<p class="note">These are the sums of the refunds export of the same period:
<code>connects-reconciler export --from {{iso .Period.From}} --to {{iso .Period.To}}</code>
writes {{num .ExportRows}} rows with SHA-256 <code>{{.ExportSHA256}}</code>.</p>
<div class="scroll"><table>
<tr><th>Rule</th><th>Component</th><th>Issued by</th><th class="n">Refunds</th><th class="n">Connects</th><th class="n">Value</th></tr>
{{range .TotalRows}}<tr><td>{{.Rule}}</td><td>{{.Component}}</td><td>{{.IssuedBy}}</td><td class="n">{{num .Refunds}}</td><td class="n">{{num .Connects}}</td><td class="n">{{usd .Value}}</td></tr>
{{end}}<tr class="total"><td>Control total</td><td></td><td></td><td class="n">{{num .Totals.Refunds}}</td><td class="n">{{num .Totals.Connects}}</td><td class="n">{{usd .Totals.Value}}</td></tr>
</table></div>
</section>

<section class="card">
<h2 style="margin-top:0">Discrepancies and missing refunds, now</h2>
<p class="note">As of {{ts .PlanAsOf}}, over the whole marketplace (a full dry-run plan; nothing written). The job never changes these; a person decides.
Difference = owed − refunded in Connects (positive: owed to the freelancer).</p>
<div class="scroll"><table>
<tr><th>Kind</th><th class="n">Count</th><th class="n">Difference (Connects)</th><th class="n">Value</th></tr>
{{range .DiscrepancyCounts}}<tr><td>{{.Kind}}</td><td class="n">{{num .Count}}</td><td class="n">{{num .Diff}}</td><td class="n">{{usd .Value}}</td></tr>
{{end}}</table></div>

<h2>Refunds owed but missing ({{num (len64 .Missing .MissingMore)}}), oldest first</h2>
<p class="note">missing_refund: settled and not in the ledger (the next run writes it, unless refused by a limit or failing); pending_refund: still inside the {{.Policy.SettleDelay}} settle delay.</p>
{{if .Missing}}<div class="scroll"><table>
<tr><th>Kind</th><th class="n">Proposal</th><th>Component</th><th class="n">Freelancer</th><th class="n">Job</th><th>Rule</th><th class="n">Connects</th><th class="n">Value</th><th>Event</th><th class="n">Age</th></tr>
{{range .Missing}}<tr><td>{{.Kind}}</td><td class="n">{{.ProposalID}}</td><td>{{.Component}}</td><td class="n">{{.FreelancerID}}</td><td class="n">{{id .JobID}}</td><td>{{dash .Rule}}</td><td class="n">{{num .Difference}}</td><td class="n">{{usd .ValueUSD}}</td><td>{{deref .EventAt}}</td><td class="n">{{.Age}}</td></tr>
{{end}}</table></div>{{if .MissingMore}}<p class="note">… and {{num (int64 .MissingMore)}} more: <code>connects-reconciler export --kind discrepancies</code> lists them all.</p>{{end}}
{{else}}<p>None.</p>{{end}}

<h2>Other discrepancies ({{num (len64 .Others .OthersMore)}})</h2>
{{if .Others}}<div class="scroll"><table>
<tr><th>Kind</th><th class="n">Proposal</th><th>Component</th><th class="n">Freelancer</th><th class="n">Job</th><th>Rule now</th><th class="n">Charged</th><th class="n">Refunded</th><th class="n">Difference</th><th class="n">Value</th></tr>
{{range .Others}}<tr><td>{{.Kind}}</td><td class="n">{{.ProposalID}}</td><td>{{.Component}}</td><td class="n">{{.FreelancerID}}</td><td class="n">{{id .JobID}}</td><td>{{dash .Rule}}</td><td class="n">{{.Charged}}</td><td class="n">{{.Refunded}}</td><td class="n">{{.Difference}}</td><td class="n">{{usd .ValueUSD}}</td></tr>
{{end}}</table></div>{{if .OthersMore}}<p class="note">… and {{num (int64 .OthersMore)}} more: <code>connects-reconciler export --kind discrepancies</code> lists them all.</p>{{end}}
{{else}}<p>None.</p>{{end}}
</section>

<section class="card">
<h2 style="margin-top:0">Runs in the period ({{.RunCount}})</h2>
<p class="note">{{range $i, $s := .RunsByStatus}}{{if $i}} · {{end}}{{$s.Kind}}: {{num $s.Count}}{{end}}{{if not .RunsByStatus}}No run started in this period.{{end}}{{if .RunsNote}}<br>{{.RunsNote}}{{end}}</p>
{{if .Runs}}<div class="scroll"><table>
<tr><th>Run</th><th>Mode</th><th>Scope</th><th>Status</th><th>Started (UTC)</th><th class="n">Took</th><th class="n">Planned</th><th class="n">Written</th><th class="n">Connects</th><th class="n">Skipped</th><th class="n">Discrep.</th><th>Error</th></tr>
{{range .Runs}}<tr><td><code>{{.ID}}</code></td><td>{{.Mode}}</td><td>{{.Scope}}{{if .Shard}} {{.Shard}}{{end}}</td><td class="status-{{.Status}}">{{.Status}}</td><td>{{short .StartedAt}}</td><td class="n">{{took .StartedAt .FinishedAt}}</td><td class="n">{{num .RefundsPlanned}}</td><td class="n">{{num .RefundsIssued}}</td><td class="n">{{num .ConnectsIssued}}</td><td class="n">{{num .RefundsSkipped}}</td><td class="n">{{num .Discrepancies}}</td><td class="wrap">{{.Error}}</td></tr>
{{end}}</table></div>{{end}}
</section>

<footer>Made by connects-reconciler report. Policy in force: settle delay {{.Policy.SettleDelay}};
tos_removed {{.Policy.TOSRemoved}} (boost {{.Policy.TOSRemovedBoost}}); closed_without_hire {{.Policy.ClosedWithoutHire}} (boost {{.Policy.ClosedWithoutHireBoost}}, declined {{.Policy.RefundDeclined}}); boost_outbid {{.Policy.BoostOutbid}}.
Values: connects × {{usd_price .Price}} per row, rounded half away from zero to the cent; totals are sums of rows. Times are UTC.</footer>
</main>
</body>
</html>
`
