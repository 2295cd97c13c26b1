package finance

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/connects/connects-reconciler/internal/atomicfile"
	"github.com/connects/connects-reconciler/reconcile"
)

// Kind is an export kind: a Spec's name.
type Kind string

// Spec is one export kind: its name, its columns, whether it covers a
// period, and how it writes. Specs lists them all; the command line, the
// manifest and the writers all read them from there.
type Spec struct {
	Kind    Kind
	Doc     string
	Columns []string
	// Period is true when the export covers [from, to); false when it is
	// the state now and takes no period.
	Period bool
	write  func(f *Finance, ctx context.Context, p *Period, e *encoder) (*Manifest, error)
}

// The export kinds.
const (
	KindRefunds       Kind = "refunds"
	KindSummary       Kind = "summary"
	KindDiscrepancies Kind = "discrepancies"
)

// Specs are the export kinds, the default first.
var Specs = []Spec{
	{Kind: KindRefunds, Doc: "one row per refund entry", Columns: refundTable.names(), Period: true,
		write: (*Finance).exportRefunds},
	{Kind: KindSummary, Doc: "per day, rule, component, issuer", Columns: summaryTable.names(), Period: true,
		write: (*Finance).exportSummary},
	{Kind: KindDiscrepancies, Doc: "as of now; no period", Columns: discrepancyTable.names(), Period: false,
		write: (*Finance).exportDiscrepancies},
}

// Lookup returns the spec of kind k.
func Lookup(k string) (Spec, bool) {
	for _, s := range Specs {
		if string(s.Kind) == k {
			return s, true
		}
	}
	return Spec{}, false
}

// KindNames are the kinds' names joined for a message: "a, b or c".
func KindNames() string {
	var names []string
	for _, s := range Specs {
		names = append(names, string(s.Kind))
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// Manifest describes an export file, for FILE.manifest.json. It holds no
// wall-clock time: re-exporting a closed period gives the same manifest.
type Manifest struct {
	File   string  `json:"file"`
	SHA256 string  `json:"sha256"`
	Kind   Kind    `json:"kind"`
	Format string  `json:"format"`
	Period *Period `json:"period,omitempty"`
	// GeneratedAt is the moment the data stands for: the period's end once
	// the period is over, else the database's clock at the export
	// (discrepancies: the plan's time).
	GeneratedAt time.Time `json:"generated_at"`
	// Complete is true when the period was over at the export.
	Complete bool  `json:"complete"`
	Rows     int64 `json:"rows"`
	// Totals are the refund entries' control totals (refunds and summary),
	// or the discrepancies' counts by kind.
	Totals          any             `json:"totals"`
	PricePerConnect reconcile.Price `json:"price_per_connect"`
	Rounding        string          `json:"rounding"`
	// Policy is the settings the export was made under: discrepancies
	// only. Refunds and summaries read each entry's match, whatever the
	// settings now, so a closed period's manifest does not change with them.
	Policy  *reconcile.Policy `json:"policy,omitempty"`
	Columns []string          `json:"columns"`
}

// RoundingNote says how values are computed, in every manifest.
const RoundingNote = "value_usd = connects × price_per_connect per row, rounded half away from zero to the cent (exact when the price has two decimals); sums are sums of the rows"

// Export writes the export s (of period p when s.Period, else nil) in
// format to w as the rows come, and returns its manifest (without file name
// and checksum).
func (f *Finance) Export(ctx context.Context, s Spec, p *Period, format string, w io.Writer) (*Manifest, error) {
	e := newEncoder(format, w)
	e.bom = f.BOM && format == FormatCSV
	m, err := s.write(f, ctx, p, e)
	if err != nil {
		return nil, err
	}
	m.Format, m.PricePerConnect, m.Rounding = format, f.Price, RoundingNote
	if !s.Period {
		pol := f.Policy
		m.Policy = &pol
	}
	return m, nil
}

// ExportFile writes the export to path through a temporary file renamed into
// place once complete, then path.sha256 (sha256sum's format: `sha256sum -c`
// checks it) and path.manifest.json.
func (f *Finance) ExportFile(ctx context.Context, s Spec, p *Period, format, path string) (*Manifest, error) {
	var m *Manifest
	sum, err := atomicfile.Write(path, func(w io.Writer) error {
		var err error
		m, err = f.Export(ctx, s, p, format, w)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", path, err)
	}
	m.File, m.SHA256 = filepath.Base(path), sum
	if _, err := atomicfile.Write(path+".sha256", func(w io.Writer) error {
		_, err := io.WriteString(w, m.SHA256+"  "+m.File+"\n")
		return err
	}); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("export: manifest: %w", err)
	}
	if _, err := atomicfile.Write(path+".manifest.json", func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	}); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return m, nil
}

// refundRow is a refund entry with its value.
type refundRow struct {
	*reconcile.LedgerRefund
	value reconcile.Cents
}

// refundTable is the refunds export's row, in column order; finance's
// spreadsheets rely on the names and the order.
var refundTable = table[refundRow]{
	{"entry_id", func(r *refundRow) cell { return intCell(r.EntryID) }},
	{"created_at", func(r *refundRow) cell { return timeCell(r.CreatedAt) }},
	{"freelancer_id", func(r *refundRow) cell { return intCell(r.FreelancerID) }},
	{"proposal_id", func(r *refundRow) cell { return idCell(r.ProposalID) }},
	{"job_id", func(r *refundRow) cell { return idCell(r.JobID) }},
	{"component", func(r *refundRow) cell { return textCell(string(r.Component)) }},
	{"connects", func(r *refundRow) cell { return intCell(r.Connects) }},
	{"value_usd", func(r *refundRow) cell { return moneyCell(r.value) }},
	{"issued_by", func(r *refundRow) cell { return textCell(r.IssuedBy) }},
	{"rule", func(r *refundRow) cell { return textCell(string(r.Rule)) }},
	{"run_id", func(r *refundRow) cell { return textCell(r.RunID) }},
	{"idempotency_key", func(r *refundRow) cell { return textCell(r.IdempotencyKey) }},
	{"verdict", func(r *refundRow) cell { return textCell(r.Verdict) }},
	{"adjusts_period", func(r *refundRow) cell { return textCell(r.AdjustsPeriod) }},
}

func (f *Finance) exportRefunds(ctx context.Context, p *Period, e *encoder) (*Manifest, error) {
	m := &Manifest{Kind: KindRefunds, Period: p, Columns: refundTable.names()}
	if err := e.begin(m.Kind, p, f.Price, m.Columns); err != nil {
		return nil, err
	}
	var err error
	if m.GeneratedAt, m.Complete, err = f.asOf(ctx, *p); err != nil {
		return nil, err
	}
	var row refundRow
	s, err := f.streamRefunds(ctx, *p, func(r *reconcile.LedgerRefund, v reconcile.Cents) error {
		row = refundRow{r, v}
		return writeRow(e, refundTable, &row)
	})
	if err != nil {
		return nil, err
	}
	t := s.totals()
	m.Rows, m.Totals = t.Refunds, t
	return m, e.end(t)
}

// summaryRow is a line of the summary; the control totals are the line of
// day "total".
type summaryRow struct {
	Day       string
	Rule      reconcile.Rule
	Component reconcile.Component
	IssuedBy  string
	Amount
}

var summaryTable = table[summaryRow]{
	{"day", func(r *summaryRow) cell { return textCell(r.Day) }},
	{"rule", func(r *summaryRow) cell { return textCell(string(r.Rule)) }},
	{"component", func(r *summaryRow) cell { return textCell(string(r.Component)) }},
	{"issued_by", func(r *summaryRow) cell { return textCell(r.IssuedBy) }},
	{"refunds", func(r *summaryRow) cell { return intCell(r.Refunds) }},
	{"connects", func(r *summaryRow) cell { return intCell(r.Connects) }},
	{"value_usd", func(r *summaryRow) cell { return moneyCell(r.Value) }},
}

func (f *Finance) exportSummary(ctx context.Context, p *Period, e *encoder) (*Manifest, error) {
	m := &Manifest{Kind: KindSummary, Period: p, Columns: summaryTable.names()}
	if err := e.begin(m.Kind, p, f.Price, m.Columns); err != nil {
		return nil, err
	}
	var err error
	if m.GeneratedAt, m.Complete, err = f.asOf(ctx, *p); err != nil {
		return nil, err
	}
	s, err := f.streamRefunds(ctx, *p, func(*reconcile.LedgerRefund, reconcile.Cents) error { return nil })
	if err != nil {
		return nil, err
	}
	for _, k := range s.keys() {
		row := summaryRow{dayString(k.Day), k.Rule, k.Component, k.IssuedBy, *s.groups[k]}
		if err := writeRow(e, summaryTable, &row); err != nil {
			return nil, err
		}
	}
	t := s.totals()
	if err := writeFooter(e, summaryTable, &summaryRow{Day: "total", Amount: t.Amount}); err != nil {
		return nil, err
	}
	m.Rows, m.Totals = e.rows, t
	return m, e.end(t)
}
