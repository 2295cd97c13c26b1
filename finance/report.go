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
	discrepancies     int64

	// ExceptionAging is the open exceptions (reconciler_exceptions) by kind
	// and age at PlanAsOf; ExceptionTotal adds them up.
	ExceptionAging []reconcile.ExceptionAging
	ExceptionTotal reconcile.ExceptionAging

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

	plan, exc, err := f.discrepancies(ctx)
	if err != nil {
		return nil, err
	}
	defer plan.Close()
	// Streamed: only totals and the rows shown are kept, however many
	// refunds a backlog leaves missing.
	t := newDiscrepancyTotals()
	oldest := oldestRows{n: reportMaxRows}
	err = eachDiscrepancy(plan, f.Price, exc, func(x Discrepancy) error {
		t.add(x)
		rd := reportDiscrepancy{Discrepancy: x}
		if x.AgeSeconds != nil {
			rd.Age = HumanAge(time.Duration(*x.AgeSeconds) * time.Second)
		}
		switch {
		case x.Kind == reconcile.MissingRefund || x.Kind == reconcile.PendingRefund:
			oldest.add(rd)
		case len(d.Others) < reportMaxRows:
			d.Others = append(d.Others, rd)
		default:
			d.OthersMore++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Oldest missing refunds first: they are the ones to chase.
	d.Missing, d.MissingMore = oldest.rows()
	if d.ExceptionAging, err = f.Store.ExceptionsAging(ctx, plan.AsOf); err != nil {
		return nil, err
	}
	for _, a := range d.ExceptionAging {
		d.ExceptionTotal.Open += a.Open
		d.ExceptionTotal.OlderThan7d += a.OlderThan7d
		d.ExceptionTotal.OlderThan30d += a.OlderThan30d
		d.ExceptionTotal.Unacknowledged += a.Unacknowledged
		d.ExceptionTotal.OldestSince = earliestOf(d.ExceptionTotal.OldestSince, a.OldestSince)
	}
	d.PlanAsOf, d.discrepancies = plan.AsOf, t.Discrepancies
	for _, k := range discrepancyOrder {
		sum := t.ByKind[k]
		d.DiscrepancyCounts = append(d.DiscrepancyCounts, kindCount{Kind: string(k), Count: sum.Count, Value: sum.ValueUSD, Diff: sum.Difference})
	}

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
		d.RunsByStatus = append(d.RunsByStatus, kindCount{Kind: string(k), Count: status[k]})
	}
	d.Runs, d.RunsNote = pickRuns(runs)
	return d, nil
}

func earliestOf(a, b *time.Time) *time.Time {
	if b == nil || (a != nil && !b.Before(*a)) {
		return a
	}
	return b
}

func ageOf(d reportDiscrepancy) int64 {
	if d.AgeSeconds == nil {
		return -1
	}
	return *d.AgeSeconds
}

// oldestRows keeps the n oldest rows added (by age, the earlier added first
// among equal ages) in a heap whose root is the one to drop next, and counts
// the others: the order a stable sort by age, oldest first, would give, in
// memory for n rows only.
type oldestRows struct {
	n    int
	seq  int
	more int
	heap []seqRow
}

type seqRow struct {
	row reportDiscrepancy
	seq int
}

// worse says a is dropped before b: younger, or as old and added later.
func worse(a, b seqRow) bool {
	if ageOf(a.row) != ageOf(b.row) {
		return ageOf(a.row) < ageOf(b.row)
	}
	return a.seq > b.seq
}

func (o *oldestRows) add(r reportDiscrepancy) {
	x := seqRow{row: r, seq: o.seq}
	o.seq++
	if len(o.heap) < o.n {
		o.heap = append(o.heap, x)
		for i := len(o.heap) - 1; i > 0; {
			parent := (i - 1) / 2
			if !worse(o.heap[i], o.heap[parent]) {
				break
			}
			o.heap[i], o.heap[parent] = o.heap[parent], o.heap[i]
			i = parent
		}
		return
	}
	o.more++
	if o.n == 0 || worse(x, o.heap[0]) || !worse(o.heap[0], x) {
		return
	}
	o.heap[0] = x
	for i := 0; ; {
		w, l, r := i, 2*i+1, 2*i+2
		if l < len(o.heap) && worse(o.heap[l], o.heap[w]) {
			w = l
		}
		if r < len(o.heap) && worse(o.heap[r], o.heap[w]) {
			w = r
		}
		if w == i {
			break
		}
		o.heap[i], o.heap[w] = o.heap[w], o.heap[i]
		i = w
	}
}

// rows returns the kept rows, oldest first, and how many were not kept.
func (o *oldestRows) rows() ([]reportDiscrepancy, int) {
	sort.Slice(o.heap, func(i, j int) bool { return worse(o.heap[j], o.heap[i]) })
	out := make([]reportDiscrepancy, len(o.heap))
	for i, x := range o.heap {
		out[i] = x.row
	}
	return out, o.more
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

// HumanAge is an age for a person: 45s, 12m, 5h 3m, 9d 4h.
func HumanAge(d time.Duration) string {
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
	"since": func(asOf time.Time, t *time.Time) string {
		if t == nil {
			return "—"
		}
		return t.UTC().Format("2006-01-02") + " (" + HumanAge(asOf.Sub(*t)) + ")"
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
	return d.Totals.Refunds, int(d.discrepancies), d.RunCount
}
