package finance

import (
	"bufio"
	"context"
	_ "embed"
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

	// Sweeps are the full sweeps' records shown: the last one recorded by
	// the period's end for a period that is over, and the last one of all
	// ("now") for a period still running or when asked for. The first is
	// the headline's.
	Sweeps []*SweepSection

	RunCount     int
	RunsByStatus []kindCount
	Runs         []reconcile.RunSummary
	RunsNote     string
}

// ReportCoverage is the period's coverage, as a ledger team measures it:
// its refund entries that a run has matched to the rule that entitles them,
// against all of them.
type ReportCoverage struct {
	Total, Matched, Unmatched Amount
	// Percent is the matched share of the refund entries, "100%" when
	// there are none; never rounded up to 100% while one is unmatched.
	Percent string
}

// Coverage is the period's coverage, from the refunds export's totals.
func (d *ReportData) Coverage() ReportCoverage {
	c := ReportCoverage{Total: d.Totals.Amount, Unmatched: d.Totals.Unmatched}
	c.Matched = Amount{Refunds: c.Total.Refunds - c.Unmatched.Refunds, Connects: c.Total.Connects - c.Unmatched.Connects,
		Value: c.Total.Value - c.Unmatched.Value}
	c.Percent = "100%"
	if c.Total.Refunds > 0 && c.Unmatched.Refunds > 0 {
		per := c.Matched.Refunds * 1000 / c.Total.Refunds // tenths, rounded down
		c.Percent = fmt.Sprintf("%d.%d%%", per/10, per%10)
	}
	return c
}

// SweepSection is one full sweep's record as the page shows it.
type SweepSection struct {
	// Now is true for the last sweep of all, with the exceptions listed and
	// their acknowledgements as they stand: figures that change with later
	// runs. False for the last sweep recorded by the period's end, which
	// never changes once the period is over.
	Now bool
	// Record is nil when no full sweep was on record then.
	Record *reconcile.SweepRecord

	// Missing are the refunds the sweep found settled and not in the
	// ledger; Written what it wrote of them, Left what it left missing
	// (all of them when a limit refused it). Pending were inside the
	// settle delay: owed, but the online path may still write them, so
	// they are never counted as missing.
	Missing, Pending OwedSum
	Written          reconcile.Amount
	Left             int64
	// Kinds are the discrepancies the sweep found, by kind.
	Kinds         []kindCount
	discrepancies int64

	// Aging is the open exceptions after the sweep by kind and age at its
	// plan; AgingTotal adds them up.
	Aging      []reconcile.ExceptionAging
	AgingTotal reconcile.ExceptionAging

	// Others lists the exceptions open as of the sweep (Now only): the
	// first reportMaxRows, OthersMore the rest.
	Others     []Discrepancy
	OthersMore int
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

// Report gathers everything the page of period p shows. The page's totals
// are the period's refunds export summed by the database
// (Store.RefundTotals): the export's very rows, grouped by what the page
// shows, so the page costs the period's groups in Go, not its rows. A closed
// period's page names the export's sha256 recorded when it was closed, and
// its totals must equal the recorded rows and Connects (else the export is
// read whole, which names what changed underneath); an open period's export
// has no fixed checksum, its manifest carries one. Discrepancies and owed
// refunds come from the full sweeps' records, never from planning the
// marketplace. A period that is over shows the last sweep recorded by its
// end, so that its page is the same whenever it is made; now adds the last
// sweep of all with the exceptions it left open (always shown while the
// period runs).
func (f *Finance) Report(ctx context.Context, p Period, now bool) (*ReportData, error) {
	d := &ReportData{Period: p, Price: f.Price, Policy: f.Policy}
	var err error
	if d.GeneratedAt, d.Complete, err = f.asOf(ctx, p); err != nil {
		return nil, err
	}
	s, closed, err := f.refundTotals(ctx, p)
	if err != nil {
		return nil, err
	}
	d.Totals, d.ExportRows = s.totals(), s.total.Refunds
	if closed != nil {
		d.ExportSHA256 = closed.SHA256
	}
	d.TotalRows = totalRows(s)
	d.Chart = drawChart(p, s)

	if d.Complete {
		end := p.To
		sec, err := f.sweepSection(ctx, &end, false)
		if err != nil {
			return nil, err
		}
		d.Sweeps = append(d.Sweeps, sec)
	}
	if now || !d.Complete {
		sec, err := f.sweepSection(ctx, nil, true)
		if err != nil {
			return nil, err
		}
		d.Sweeps = append(d.Sweeps, sec)
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

// refundTotals sums the period's refunds export in the database. A closed
// period's sums must be those recorded when it was closed: when they are
// not, the export is read whole to name what changed (streamRefunds fails).
func (f *Finance) refundTotals(ctx context.Context, p Period) (*summary, *reconcile.ClosedPeriod, error) {
	closed, err := f.closedPeriod(ctx, p)
	if err != nil {
		return nil, nil, fmt.Errorf("report: %w", err)
	}
	if err := f.samePrice(p, closed); err != nil {
		return nil, nil, err
	}
	groups, err := f.Store.RefundTotals(ctx, p.From, p.To)
	if err != nil {
		return nil, nil, fmt.Errorf("report: %w", err)
	}
	s := newSummary()
	for _, g := range groups {
		s.addGroup(g, f.Price)
	}
	if closed != nil && (s.total.Refunds != closed.Rows || s.total.Connects != closed.Connects) {
		if _, err := f.streamRefunds(ctx, p, func(*reconcile.LedgerRefund, reconcile.Cents) error { return nil }); err != nil {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("report: the closed period [%s, %s) sums to %d rows and %d Connects, closed with %d and %d",
			fmtTime(p.From), fmtTime(p.To), s.total.Refunds, s.total.Connects, closed.Rows, closed.Connects)
	}
	return s, closed, nil
}

// Discrepancies is how many discrepancies the sweep found.
func (s *SweepSection) Discrepancies() int64 { return s.discrepancies }

// sweepSection reads the last full sweep recorded by by (nil: of all); with
// now, the exceptions open as of it too, as they stand.
func (f *Finance) sweepSection(ctx context.Context, by *time.Time, now bool) (*SweepSection, error) {
	rec, err := f.Store.LastSweep(ctx, by)
	if err != nil {
		return nil, err
	}
	sec := &SweepSection{Now: now, Record: rec}
	if rec == nil {
		return sec, nil
	}
	sec.Missing = owed(rec, reconcile.MissingRefund, f.Price)
	sec.Pending = owed(rec, reconcile.PendingRefund, f.Price)
	_, sec.Written, _ = rec.Issued()
	planned, issued, skipped := rec.Issued()
	sec.Left = max(0, planned.Refunds-issued.Refunds-skipped.Refunds)
	for _, k := range reconcile.DiscrepancyStates {
		x := rec.State(k)
		if x.Count > 0 {
			sec.Kinds = append(sec.Kinds, kindCount{Kind: string(k), Count: x.Count, Diff: x.Connects, Value: f.Price.Value(x.Connects)})
			sec.discrepancies += x.Count
		}
		if x.Open > 0 {
			a := x.ExceptionAging
			a.Kind = k
			sec.Aging = append(sec.Aging, a)
			sec.AgingTotal.Open += a.Open
			sec.AgingTotal.OlderThan7d += a.OlderThan7d
			sec.AgingTotal.OlderThan30d += a.OlderThan30d
			sec.AgingTotal.Unacknowledged += a.Unacknowledged
			sec.AgingTotal.OldestSince = earliestOf(sec.AgingTotal.OldestSince, a.OldestSince)
		}
	}
	if !now {
		return sec, nil
	}
	err = f.eachDiscrepancy(ctx, rec, func(d Discrepancy) error {
		if len(sec.Others) >= reportMaxRows {
			sec.OthersMore++
			return nil
		}
		sec.Others = append(sec.Others, d)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return sec, nil
}

func earliestOf(a, b *time.Time) *time.Time {
	if b == nil || (a != nil && !b.Before(*a)) {
		return a
	}
	return b
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
	"num": func(v int64) string { return reconcile.Thousands(strconv.FormatInt(v, 10)) },
	"usd": func(c reconcile.Cents) string {
		s := c.String()
		neg := strings.HasPrefix(s, "-")
		s = strings.TrimPrefix(s, "-")
		whole, frac, _ := strings.Cut(s, ".")
		out := "$" + reconcile.Thousands(whole) + "." + frac
		if neg {
			out = "−" + out
		}
		return out
	},
	"dash": func(v any) string {
		if s := fmt.Sprint(v); s != "" {
			return s
		}
		return "—"
	},
	"id": func(v int64) string {
		if v == 0 {
			return "—"
		}
		return strconv.FormatInt(v, 10)
	},
	"usd_price": func(p reconcile.Price) string { return "$" + p.String() },
	"len64":     func(rows []Discrepancy, more int) int64 { return int64(len(rows) + more) },
	"oneline":   func(s string) string { return oneLine(s, 120) },
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
	"at": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
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

// Counts are what the report found, for the command's log line: the
// discrepancies are the headline sweep's.
func (d *ReportData) Counts() (refunds int64, discrepancies, runs int) {
	if len(d.Sweeps) > 0 {
		discrepancies = int(d.Sweeps[0].discrepancies)
	}
	return d.Totals.Refunds, discrepancies, d.RunCount
}
