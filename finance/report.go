package finance

import (
	"bufio"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/connects/connects-reconciler/internal/atomicfile"
	"github.com/connects/connects-reconciler/reconcile"
)

// The report's table lengths: the rest is in the export.
const (
	reportMaxRows     = 200
	reportMaxRuns     = 100
	reportAllRunsUpTo = 50
)

// ReportData is everything the page shows; WriteReport renders it.
type ReportData struct {
	Period      Period
	GeneratedAt time.Time
	Complete    bool
	Price       reconcile.Price
	Policy      reconcile.Policy

	Totals    Totals
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
	allDiscrepancies  []Discrepancy

	RunCount     int
	RunsByStatus []kindCount
	Runs         []reconcile.RunSummary
	RunsNote     string
}

type totalRow struct {
	Rule, Component, IssuedBy string
	Amount
}

type kindCount struct {
	Kind  string
	Count int64
	Value reconcile.Cents
	Diff  int64
}

type reportDiscrepancy struct {
	Discrepancy
	Age string
}

// Report gathers everything the page of period p shows. The refunds export of
// the period is streamed into a hash only: the page's totals and its checksum
// come from the very rows the export writes.
func (f *Finance) Report(ctx context.Context, p Period) (*ReportData, error) {
	d := &ReportData{Period: p, Price: f.Price, Policy: f.Policy}
	var err error
	if d.GeneratedAt, d.Complete, err = f.asOf(ctx, p); err != nil {
		return nil, err
	}
	h := sha256.New()
	bw := bufio.NewWriterSize(h, 1<<16)
	s, err := f.refundsCSV(ctx, p, bw)
	if err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	d.Totals, d.ExportRows, d.ExportSHA256 = s.totals(), s.total.Refunds, hex.EncodeToString(h.Sum(nil))
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
		rd := reportDiscrepancy{Discrepancy: x}
		if x.AgeSeconds != nil {
			rd.Age = humanAge(time.Duration(*x.AgeSeconds) * time.Second)
		}
		if x.Kind == MissingRefund || x.Kind == PendingRefund {
			missing = append(missing, rd)
		} else {
			others = append(others, rd)
		}
	}
	// Oldest missing refunds first: they are the ones to chase.
	sort.SliceStable(missing, func(i, j int) bool { return ageOf(missing[i]) > ageOf(missing[j]) })
	d.Missing, d.MissingMore = capRows(missing, reportMaxRows)
	d.Others, d.OthersMore = capRows(others, reportMaxRows)

	runs, err := f.Store.Runs(ctx, p.From, p.To)
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
	m := map[key]*Amount{}
	for k, a := range s.groups {
		get(m, key{k.Rule, k.Component, k.IssuedBy}).plus(*a)
	}
	var rows []totalRow
	for k, a := range m {
		rule := string(k.rule)
		if rule == "" {
			rule = "none"
		}
		rows = append(rows, totalRow{Rule: rule, Component: string(k.component), IssuedBy: k.issuedBy, Amount: *a})
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
func drawChart(p Period, s *summary) chart {
	c := chart{Width: 1160, Height: 360, PlotLeft: 64, PlotRight: 1144, PlotTop: 48, PlotBottom: 320}
	type dayAmounts map[reconcile.Rule]*Amount
	perDay := map[int64]dayAmounts{}
	for k, a := range s.groups {
		d, ok := perDay[k.Day]
		if !ok {
			d = dayAmounts{}
			perDay[k.Day] = d
		}
		get(d, k.Rule).plus(*a)
	}
	var days []int64
	for d := p.From.Truncate(24 * time.Hour); d.Before(p.To); d = d.Add(24 * time.Hour) {
		days = append(days, unixDay(d))
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
	for i, dayNum := range days {
		day := dayString(dayNum)
		x := float64(c.PlotLeft) + float64(i)*slot + (slot-barW)/2
		if i%labelEvery == 0 {
			c.XTicks = append(c.XTicks, tick{Pos: f1(x + barW/2), Label: day[5:]})
		}
		base := float64(c.PlotBottom)
		for _, series := range chartSeries {
			a, ok := perDay[dayNum][series.rule]
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
	"deref": func(t *time.Time) string {
		if t == nil {
			return "—"
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

//go:embed report.html
var reportHTML string

// reportTemplate is the page (report.html): no script, no external font,
// stylesheet or image; the chart is inline SVG.
var reportTemplate = template.Must(template.New("report").Funcs(reportFuncs).Parse(reportHTML))

// WriteReport renders the page of d to w.
func WriteReport(w io.Writer, d *ReportData) error {
	bw := bufio.NewWriter(w)
	if err := reportTemplate.Execute(bw, d); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return bw.Flush()
}

// WriteReportFile renders the page of d to path, through a temporary file
// renamed into place once complete.
func WriteReportFile(path string, d *ReportData) error {
	_, err := atomicfile.Write(path, func(w io.Writer) error { return reportTemplate.Execute(w, d) })
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// Counts are what the report found, for the command's log line.
func (d *ReportData) Counts() (refunds int64, discrepancies, runs int) {
	return d.Totals.Refunds, len(d.allDiscrepancies), d.RunCount
}
