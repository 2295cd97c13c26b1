package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"go.uber.org/zap"

	"github.com/connects/connects-reconciler/config"
	"github.com/connects/connects-reconciler/reconcile"
	"github.com/connects/connects-reconciler/reconcile/postgres"
)

// Export kinds.
const (
	kindRefunds       = "refunds"
	kindSummary       = "summary"
	kindDiscrepancies = "discrepancies"
)

// refundColumns are the refunds export's columns, in order; finance's
// spreadsheets rely on them.
var refundColumns = []string{"entry_id", "created_at", "freelancer_id", "proposal_id", "job_id", "component",
	"connects", "value_usd", "issued_by", "rule", "run_id", "idempotency_key"}

var summaryColumns = []string{"day", "rule", "component", "issued_by", "refunds", "connects", "value_usd"}

var discrepancyColumns = []string{"kind", "proposal_id", "component", "freelancer_id", "job_id", "rule",
	"charged", "refunded", "difference", "value_usd", "event_at", "age_seconds"}

// timeLayout is RFC 3339 in UTC with microseconds, PostgreSQL's precision:
// fixed width, so that text order is time order.
const timeLayout = "2006-01-02T15:04:05.000000Z07:00"

func fmtTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func cmdExport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newCommand("export", "Export refund entries for finance: every refund in a period (CSV or JSON), a summary, or the discrepancies now.", stderr)
	from := c.fs.String("from", "", "start of the period, inclusive: a date (2026-11-01, UTC midnight) or an RFC 3339 time")
	to := c.fs.String("to", "", "end of the period, exclusive: a date or an RFC 3339 time")
	kind := c.fs.String("kind", kindRefunds, "refunds (one row per refund entry), summary (per day, rule, component, issuer), or discrepancies (as of now; no period)")
	format := c.fs.String("format", "csv", "csv (RFC 4180, header row) or json")
	out := c.fs.String("out", "", "write FILE, FILE.sha256 and FILE.manifest.json instead of stdout")
	if err := c.parse(args, getenv, stderr); err != nil {
		return err
	}
	var problems []string
	if *format != "csv" && *format != "json" {
		problems = append(problems, fmt.Sprintf("--format must be csv or json, got %q", *format))
	}
	var p period
	switch *kind {
	case kindRefunds, kindSummary:
		var err error
		if p, err = parsePeriod(*from, *to); err != nil {
			problems = append(problems, err.Error())
		}
	case kindDiscrepancies:
		if *from != "" || *to != "" {
			problems = append(problems, "--kind discrepancies is the state as of now and takes no --from/--to")
		}
	default:
		problems = append(problems, fmt.Sprintf("--kind must be refunds, summary or discrepancies, got %q", *kind))
	}
	if len(problems) > 0 {
		return usageError{"export: " + strings.Join(problems, "; ")}
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

	write := func(w io.Writer) (*manifest, error) {
		switch *kind {
		case kindRefunds:
			return f.exportRefunds(ctx, p, newSink(*format, w))
		case kindSummary:
			return f.exportSummary(ctx, p, newSink(*format, w))
		default:
			return f.exportDiscrepancies(ctx, newSink(*format, w))
		}
	}
	var m *manifest
	if *out == "" {
		bw := bufio.NewWriterSize(stdout, 1<<16)
		if m, err = write(bw); err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("export: write: %w", err)
		}
	} else {
		if m, err = writeExportFiles(*out, write); err != nil {
			return err
		}
		m.Format, m.PricePerConnect, m.Policy, m.Rounding = *format, f.price(), f.policy(), roundingNote
		if err := writeFileAtomic(*out+".sha256", []byte(m.SHA256+"  "+m.File+"\n")); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		b, err := json.MarshalIndent(m, "", "  ")
		if err != nil {
			return fmt.Errorf("export: manifest: %w", err)
		}
		if err := writeFileAtomic(*out+".manifest.json", append(b, '\n')); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	c.log.Info("exported", zap.String("kind", *kind), zap.String("format", *format), zap.String("out", *out),
		zap.Int64("rows", m.Rows), zap.Duration("took", time.Since(start)))
	return nil
}

// period is a half-open interval [From, To) of UTC times.
type period struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// parseTime reads a date (UTC midnight) or an RFC 3339 time.
func parseTime(flag, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, fmt.Errorf("--%s is required (a date like 2026-11-01 or an RFC 3339 time)", flag)
	}
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("--%s must be a date like 2026-11-01 or an RFC 3339 time, got %q", flag, v)
	}
	return t.UTC(), nil
}

func parsePeriod(from, to string) (period, error) {
	f, err1 := parseTime("from", from)
	t, err2 := parseTime("to", to)
	if err := errors.Join(err1, err2); err != nil {
		return period{}, err
	}
	if !t.After(f) {
		return period{}, fmt.Errorf("--to %s must be after --from %s (the period is [from, to))", fmtTime(t), fmtTime(f))
	}
	return period{From: f, To: t}, nil
}

// finance holds what the export and report commands share.
type finance struct {
	cfg   config.Config
	log   *zap.Logger
	store *postgres.Store
}

func newFinance(c *command, db *sqlx.DB) *finance {
	return &finance{cfg: c.cfg, log: c.log, store: c.newStore(db, c.log)}
}

func (f *finance) price() reconcile.Price   { return f.cfg.PricePerConnect }
func (f *finance) policy() reconcile.Policy { return f.cfg.Policy }

// amount is a count of refunds, their Connects and their value.
type amount struct {
	Refunds  int64           `json:"refunds"`
	Connects int64           `json:"connects"`
	Value    reconcile.Cents `json:"value_usd"`
}

func (a *amount) add(connects int64, v reconcile.Cents) {
	a.Refunds++
	a.Connects += connects
	a.Value += v
}

// summaryKey is one line of the summary.
type summaryKey struct {
	Day       string
	Rule      reconcile.Rule
	Component reconcile.Component
	IssuedBy  string
}

// summary aggregates refund entries per day, rule, component and issuer,
// with control totals. It holds one entry per group, never the rows.
type summary struct {
	groups   map[summaryKey]*amount
	total    amount
	byIssuer map[string]*amount
	byRule   map[reconcile.Rule]*amount
}

func newSummary() *summary {
	return &summary{groups: map[summaryKey]*amount{}, byIssuer: map[string]*amount{}, byRule: map[reconcile.Rule]*amount{}}
}

func (s *summary) add(r reconcile.LedgerRefund, v reconcile.Cents) {
	k := summaryKey{Day: r.CreatedAt.UTC().Format("2006-01-02"), Rule: r.Rule, Component: r.Component, IssuedBy: r.IssuedBy}
	for _, a := range []*amount{get(s.groups, k), get(s.byIssuer, r.IssuedBy), get(s.byRule, r.Rule)} {
		a.add(r.Connects, v)
	}
	s.total.add(r.Connects, v)
}

func get[K comparable](m map[K]*amount, k K) *amount {
	a, ok := m[k]
	if !ok {
		a = &amount{}
		m[k] = a
	}
	return a
}

// ruleRank orders rules by precedence, "no rule" last.
func ruleRank(r reconcile.Rule) int {
	for i, x := range reconcile.Rules {
		if x == r {
			return i
		}
	}
	if r == "" {
		return len(reconcile.Rules) + 1
	}
	return len(reconcile.Rules)
}

// keys returns the summary's lines in day, rule precedence, component,
// issuer order.
func (s *summary) keys() []summaryKey {
	keys := make([]summaryKey, 0, len(s.groups))
	for k := range s.groups {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		switch {
		case a.Day != b.Day:
			return a.Day < b.Day
		case a.Rule != b.Rule:
			if ra, rb := ruleRank(a.Rule), ruleRank(b.Rule); ra != rb {
				return ra < rb
			}
			return a.Rule < b.Rule
		case a.Component != b.Component:
			return a.Component < b.Component
		default:
			return a.IssuedBy < b.IssuedBy
		}
	})
	return keys
}

// totals are an export's control totals: they equal the sums of the refund
// rows exactly.
type totals struct {
	amount
	ByIssuer map[string]amount         `json:"by_issued_by"`
	ByRule   map[reconcile.Rule]amount `json:"by_rule"`
}

func (s *summary) totals() totals {
	t := totals{amount: s.total, ByIssuer: map[string]amount{}, ByRule: map[reconcile.Rule]amount{}}
	for k, a := range s.byIssuer {
		t.ByIssuer[k] = *a
	}
	for k, a := range s.byRule {
		if k == "" {
			k = "none"
		}
		t.ByRule[k] = *a
	}
	return t
}

// manifest describes an export file, for FILE.manifest.json. It holds no
// wall-clock time: re-exporting a closed period gives the same manifest.
type manifest struct {
	File   string  `json:"file"`
	SHA256 string  `json:"sha256"`
	Kind   string  `json:"kind"`
	Format string  `json:"format"`
	Period *period `json:"period,omitempty"`
	// GeneratedAt is the moment the data stands for: the period's end once
	// the period is over, else the database's clock at the export
	// (discrepancies: the plan's time).
	GeneratedAt time.Time `json:"generated_at"`
	// Complete is true when the period was over at the export.
	Complete bool  `json:"complete"`
	Rows     int64 `json:"rows"`
	// Totals are the refund entries' control totals (refunds and summary),
	// or the discrepancies' counts by kind.
	Totals          any              `json:"totals"`
	PricePerConnect reconcile.Price  `json:"price_per_connect"`
	Rounding        string           `json:"rounding"`
	Policy          reconcile.Policy `json:"policy"`
	Columns         []string         `json:"columns"`
}

const roundingNote = "value_usd = connects × price_per_connect per row, rounded half away from zero to the cent (exact when the price has two decimals); sums are sums of the rows"

// asOf reads the database clock: a period still running is not complete.
func (f *finance) asOf(ctx context.Context, p period) (time.Time, bool, error) {
	now, err := f.store.Clock(ctx)
	if err != nil {
		return time.Time{}, false, err
	}
	if !p.To.After(now) {
		return p.To, true, nil
	}
	return now, false, nil
}

// streamRefunds streams the period's refund entries with their value to fn
// and returns their summary.
func (f *finance) streamRefunds(ctx context.Context, p period, fn func(reconcile.LedgerRefund, reconcile.Cents) error) (*summary, error) {
	s := newSummary()
	price := f.price()
	err := f.store.Refunds(ctx, f.policy(), p.From, p.To, func(r reconcile.LedgerRefund) error {
		v := price.Value(r.Connects)
		s.add(r, v)
		return fn(r, v)
	})
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return s, nil
}

func refundRecord(r reconcile.LedgerRefund, v reconcile.Cents) []string {
	return []string{strconv.FormatInt(r.EntryID, 10), fmtTime(r.CreatedAt), strconv.FormatInt(r.FreelancerID, 10),
		idOrEmpty(r.ProposalID), idOrEmpty(r.JobID), string(r.Component), strconv.FormatInt(r.Connects, 10),
		v.String(), r.IssuedBy, string(r.Rule), r.RunID, r.IdempotencyKey}
}

// refundObject is a refund row in JSON: the CSV's columns, typed.
type refundObject struct {
	EntryID        int64           `json:"entry_id"`
	CreatedAt      string          `json:"created_at"`
	FreelancerID   int64           `json:"freelancer_id"`
	ProposalID     int64           `json:"proposal_id"`
	JobID          int64           `json:"job_id"`
	Component      string          `json:"component"`
	Connects       int64           `json:"connects"`
	ValueUSD       reconcile.Cents `json:"value_usd"`
	IssuedBy       string          `json:"issued_by"`
	Rule           string          `json:"rule"`
	RunID          string          `json:"run_id"`
	IdempotencyKey string          `json:"idempotency_key"`
}

func idOrEmpty(id int64) string {
	if id == 0 {
		return ""
	}
	return strconv.FormatInt(id, 10)
}

func (f *finance) exportRefunds(ctx context.Context, p period, out sink) (*manifest, error) {
	m := &manifest{Kind: kindRefunds, Period: &p, Columns: refundColumns}
	if err := out.begin(m.Kind, &p, f.price(), refundColumns); err != nil {
		return nil, err
	}
	var err error
	if m.GeneratedAt, m.Complete, err = f.asOf(ctx, p); err != nil {
		return nil, err
	}
	s, err := f.streamRefunds(ctx, p, func(r reconcile.LedgerRefund, v reconcile.Cents) error {
		return out.row(refundRecord(r, v), refundObject{EntryID: r.EntryID, CreatedAt: fmtTime(r.CreatedAt),
			FreelancerID: r.FreelancerID, ProposalID: r.ProposalID, JobID: r.JobID, Component: string(r.Component),
			Connects: r.Connects, ValueUSD: v, IssuedBy: r.IssuedBy, Rule: string(r.Rule), RunID: r.RunID,
			IdempotencyKey: r.IdempotencyKey})
	})
	if err != nil {
		return nil, err
	}
	t := s.totals()
	m.Rows, m.Totals = t.Refunds, t
	return m, out.end(t)
}

// summaryObject is a summary line in JSON.
type summaryObject struct {
	Day       string `json:"day"`
	Rule      string `json:"rule"`
	Component string `json:"component"`
	IssuedBy  string `json:"issued_by"`
	amount
}

func (f *finance) exportSummary(ctx context.Context, p period, out sink) (*manifest, error) {
	m := &manifest{Kind: kindSummary, Period: &p, Columns: summaryColumns}
	if err := out.begin(m.Kind, &p, f.price(), summaryColumns); err != nil {
		return nil, err
	}
	var err error
	if m.GeneratedAt, m.Complete, err = f.asOf(ctx, p); err != nil {
		return nil, err
	}
	s, err := f.streamRefunds(ctx, p, func(reconcile.LedgerRefund, reconcile.Cents) error { return nil })
	if err != nil {
		return nil, err
	}
	for _, k := range s.keys() {
		a := s.groups[k]
		rec := []string{k.Day, string(k.Rule), string(k.Component), k.IssuedBy,
			strconv.FormatInt(a.Refunds, 10), strconv.FormatInt(a.Connects, 10), a.Value.String()}
		if err := out.row(rec, summaryObject{k.Day, string(k.Rule), string(k.Component), k.IssuedBy, *a}); err != nil {
			return nil, err
		}
		m.Rows++
	}
	t := s.totals()
	// The control totals, as the CSV's last line: day "total".
	if err := out.footer([]string{"total", "", "", "", strconv.FormatInt(t.Refunds, 10),
		strconv.FormatInt(t.Connects, 10), t.Value.String()}); err != nil {
		return nil, err
	}
	m.Totals = t
	return m, out.end(t)
}

// Kinds of the discrepancies export beyond the plan's discrepancy kinds.
const (
	missingRefund = "missing_refund" // owed, settled, not in the ledger: a run will write it (or was refused, or failed)
	pendingRefund = "pending_refund" // owed, inside the settle delay: the online path may still write it
)

var discrepancyOrder = []string{missingRefund, pendingRefund, string(reconcile.MissingBalance),
	string(reconcile.AmountMismatch), string(reconcile.UnexpectedRefund)}

// discrepancy is one line of the discrepancies export.
type discrepancy struct {
	Kind         string          `json:"kind"`
	ProposalID   int64           `json:"proposal_id"`
	Component    string          `json:"component"`
	FreelancerID int64           `json:"freelancer_id"`
	JobID        int64           `json:"job_id"`
	Rule         string          `json:"rule"`
	Charged      int64           `json:"charged"`
	Refunded     int64           `json:"refunded"`
	Difference   int64           `json:"difference"` // owed minus refunded: positive is owed to the freelancer
	ValueUSD     reconcile.Cents `json:"value_usd"`
	EventAt      *string         `json:"event_at"`
	AgeSeconds   *int64          `json:"age_seconds"`
}

func (d discrepancy) record() []string {
	ev, age := "", ""
	if d.EventAt != nil {
		ev, age = *d.EventAt, strconv.FormatInt(*d.AgeSeconds, 10)
	}
	return []string{d.Kind, strconv.FormatInt(d.ProposalID, 10), d.Component, strconv.FormatInt(d.FreelancerID, 10),
		idOrEmpty(d.JobID), d.Rule, strconv.FormatInt(d.Charged, 10), strconv.FormatInt(d.Refunded, 10),
		strconv.FormatInt(d.Difference, 10), d.ValueUSD.String(), ev, age}
}

// discrepancies plans a full sweep of the whole marketplace (writing
// nothing) and lists what a person must look at, as of the plan's time.
func (f *finance) discrepancies(ctx context.Context) (*reconcile.Plan, []discrepancy, error) {
	opts := f.cfg.Run
	opts.Full, opts.Shard = true, reconcile.Shard{}
	r := &reconcile.Reconciler{Store: f.store, Policy: f.policy(), Options: opts, Log: f.log.Named("reconcile")}
	plan, err := r.Plan(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("plan: %w", err)
	}
	price := f.price()
	var out []discrepancy
	owed := func(kind string, rs []reconcile.Refund) {
		for _, x := range rs {
			d := discrepancy{Kind: kind, ProposalID: x.ProposalID, Component: string(x.Component), FreelancerID: x.FreelancerID,
				JobID: x.JobID, Rule: string(x.Rule), Charged: x.Connects, Difference: x.Connects, ValueUSD: price.Value(x.Connects)}
			if x.EventAt != nil {
				ev := fmtTime(*x.EventAt)
				age := int64(plan.AsOf.Sub(*x.EventAt) / time.Second)
				d.EventAt, d.AgeSeconds = &ev, &age
			}
			out = append(out, d)
		}
	}
	refunds, err := plan.Refunds()
	if err != nil {
		return nil, nil, err
	}
	pending, err := plan.PendingRefunds()
	if err != nil {
		return nil, nil, err
	}
	found, err := plan.Discrepancies()
	if err != nil {
		return nil, nil, err
	}
	owed(missingRefund, refunds)
	owed(pendingRefund, pending)
	for _, x := range found {
		diff := x.Charged - x.Refunded
		if x.Kind == reconcile.UnexpectedRefund {
			diff = -x.Refunded
		}
		out = append(out, discrepancy{Kind: string(x.Kind), ProposalID: x.ProposalID, Component: string(x.Component),
			FreelancerID: x.FreelancerID, JobID: x.JobID, Rule: string(x.Rule), Charged: x.Charged, Refunded: x.Refunded,
			Difference: diff, ValueUSD: price.Value(diff)})
	}
	rank := map[string]int{}
	for i, k := range discrepancyOrder {
		rank[k] = i
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Kind != b.Kind {
			return rank[a.Kind] < rank[b.Kind]
		}
		if a.ProposalID != b.ProposalID {
			return a.ProposalID < b.ProposalID
		}
		return a.Component < b.Component
	})
	return plan, out, nil
}

// discrepancyTotals count the discrepancies by kind, with what they amount to.
type discrepancyTotals struct {
	Discrepancies int64                     `json:"discrepancies"`
	ByKind        map[string]discrepancySum `json:"by_kind"`
}

type discrepancySum struct {
	Count      int64           `json:"count"`
	Difference int64           `json:"difference"`
	ValueUSD   reconcile.Cents `json:"value_usd"`
}

func sumDiscrepancies(ds []discrepancy) discrepancyTotals {
	t := discrepancyTotals{ByKind: map[string]discrepancySum{}}
	for _, d := range ds {
		t.Discrepancies++
		s := t.ByKind[d.Kind]
		s.Count++
		s.Difference += d.Difference
		s.ValueUSD += d.ValueUSD
		t.ByKind[d.Kind] = s
	}
	return t
}

func (f *finance) exportDiscrepancies(ctx context.Context, out sink) (*manifest, error) {
	plan, ds, err := f.discrepancies(ctx)
	if err != nil {
		return nil, err
	}
	m := &manifest{Kind: kindDiscrepancies, GeneratedAt: plan.AsOf, Complete: true, Columns: discrepancyColumns}
	if err := out.begin(m.Kind, nil, f.price(), discrepancyColumns); err != nil {
		return nil, err
	}
	for _, d := range ds {
		if err := out.row(d.record(), d); err != nil {
			return nil, err
		}
	}
	t := sumDiscrepancies(ds)
	m.Rows, m.Totals = t.Discrepancies, t
	return m, out.end(t)
}

// sink writes an export's rows as CSV or JSON, as they come.
type sink interface {
	begin(kind string, p *period, price reconcile.Price, columns []string) error
	row(record []string, object any) error
	// footer is a CSV-only last line (the summary's control totals); JSON
	// carries them in "totals".
	footer(record []string) error
	end(totals any) error
}

func newSink(format string, w io.Writer) sink {
	if format == "json" {
		return &jsonSink{w: w}
	}
	cw := csv.NewWriter(w)
	cw.UseCRLF = true // RFC 4180 line breaks
	return &csvSink{w: cw}
}

type csvSink struct{ w *csv.Writer }

func (s *csvSink) begin(_ string, _ *period, _ reconcile.Price, columns []string) error {
	return s.w.Write(columns)
}

func (s *csvSink) row(record []string, _ any) error { return s.w.Write(record) }

func (s *csvSink) footer(record []string) error { return s.w.Write(record) }

func (s *csvSink) end(any) error {
	s.w.Flush()
	if err := s.w.Error(); err != nil {
		return fmt.Errorf("export: write: %w", err)
	}
	return nil
}

// jsonSink writes one JSON object whose "rows" array is streamed, one row a
// line.
type jsonSink struct {
	w    io.Writer
	rows int64
	err  error
}

func (s *jsonSink) write(b []byte) {
	if s.err == nil {
		_, s.err = s.w.Write(b)
	}
}

func (s *jsonSink) begin(kind string, p *period, price reconcile.Price, columns []string) error {
	head := struct {
		Kind    string          `json:"kind"`
		Period  *period         `json:"period,omitempty"`
		Price   reconcile.Price `json:"price_per_connect"`
		Columns []string        `json:"columns"`
	}{kind, p, price, columns}
	b, err := json.Marshal(head)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	s.write(b[:len(b)-1])
	s.write([]byte(`,"rows":[`))
	return s.err
}

func (s *jsonSink) row(_ []string, object any) error {
	b, err := json.Marshal(object)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if s.rows > 0 {
		s.write([]byte(","))
	}
	s.write([]byte("\n"))
	s.write(b)
	s.rows++
	return s.err
}

func (s *jsonSink) footer([]string) error { return nil }

func (s *jsonSink) end(totals any) error {
	b, err := json.Marshal(totals)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	s.write([]byte("\n],\"totals\":"))
	s.write(b)
	s.write([]byte("}\n"))
	if s.err != nil {
		return fmt.Errorf("export: write: %w", s.err)
	}
	return nil
}

// writeExportFiles writes FILE through a temporary file renamed into place
// once complete, then FILE.sha256 (sha256sum's format: `sha256sum -c` checks
// it) and FILE.manifest.json.
func writeExportFiles(path string, write func(io.Writer) (*manifest, error)) (*manifest, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(tmp, h), 1<<16)
	m, err := write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	m.File, m.SHA256 = base, hexSum(h)
	return m, nil
}

func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

// writeFileAtomic writes b to path through a temporary file and a rename.
func writeFileAtomic(path string, b []byte) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
