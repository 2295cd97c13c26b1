package finance

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/connects/connects-reconciler/reconcile"
)

// memStore is a Store over rows in memory, for the formatting and
// aggregation logic; which rows exist and their rules is the SQL's business,
// tested in reconcile/postgres.
type memStore struct {
	now     time.Time
	refunds []reconcile.LedgerRefund
	runs    []reconcile.RunSummary
	// sweeps are the full sweeps on record, oldest first; exceptions the
	// job's exceptions, open ones returned as of any sweep after they opened
	sweeps     []reconcile.SweepRecord
	exceptions []reconcile.Exception
}

func (s *memStore) Clock(context.Context) (time.Time, error) { return s.now, nil }

func (s *memStore) Refunds(_ context.Context, from, to time.Time, fn func(reconcile.LedgerRefund) error) error {
	for _, r := range s.refunds {
		if !r.CreatedAt.Before(from) && r.CreatedAt.Before(to) {
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return nil
}

// RefundTotals sums the rows Refunds streams, as report_refund_totals.sql
// does in the database.
func (s *memStore) RefundTotals(ctx context.Context, from, to time.Time) ([]reconcile.RefundGroup, error) {
	idx := map[reconcile.RefundGroup]int{}
	var out []reconcile.RefundGroup
	err := s.Refunds(ctx, from, to, func(r reconcile.LedgerRefund) error {
		k := reconcile.RefundGroup{Day: unixDay(r.CreatedAt), Rule: r.Rule, Component: r.Component, IssuedBy: r.IssuedBy,
			Unmatched: r.Verdict == reconcile.Unmatched, Connects: r.Connects}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, k)
		}
		out[i].Refunds++
		return nil
	})
	return out, err
}

func (s *memStore) Runs(_ context.Context, from, to time.Time) ([]reconcile.RunSummary, error) {
	var out []reconcile.RunSummary
	for _, r := range s.runs {
		if !r.StartedAt.Before(from) && r.StartedAt.Before(to) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (s *memStore) LastSweep(_ context.Context, by *time.Time) (*reconcile.SweepRecord, error) {
	for i := len(s.sweeps) - 1; i >= 0; i-- {
		if by == nil || !s.sweeps[i].Runs[0].RecordedAt.After(*by) {
			r := s.sweeps[i]
			return &r, nil
		}
	}
	return nil, nil
}

func (s *memStore) SweepExceptions(_ context.Context, asOf time.Time, fn func(reconcile.Exception) error) error {
	for _, e := range s.exceptions {
		if e.Status == reconcile.ExceptionOpen && !e.OpenSince.After(asOf) {
			if err := fn(e); err != nil {
				return err
			}
		}
	}
	return nil
}

var nov1 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func at(day, hour int) time.Time {
	return nov1.AddDate(0, 0, day-1).Add(time.Duration(hour) * time.Hour)
}

func newTestFinance() *Finance {
	store := &memStore{now: at(35, 0), refunds: []reconcile.LedgerRefund{
		{EntryID: 7, CreatedAt: at(1, 3).Add(123456789 * time.Nanosecond), FreelancerID: 100, ProposalID: 10, JobID: 1,
			Component: reconcile.Base, Connects: 4, IssuedBy: "reconciler",
			Rule: reconcile.RuleClosedWithoutHire, RunID: "run-a", IdempotencyKey: "refund:10:base", Verdict: "refunded"},
		{EntryID: 8, CreatedAt: at(1, 5), FreelancerID: 101, ProposalID: 11, JobID: 1, Component: reconcile.Boost,
			Connects: 6, IssuedBy: "online", Rule: reconcile.RuleBoostOutbid, IdempotencyKey: `online,"11" <b>`,
			Verdict: "refunded"},
		{EntryID: 9, CreatedAt: at(2, 1), FreelancerID: 102, Component: reconcile.Base, Connects: 3,
			IssuedBy: "online", IdempotencyKey: " späť\nline", Verdict: "unknown_proposal"},
		{EntryID: 10, CreatedAt: at(2, 2), FreelancerID: 103, ProposalID: 12, JobID: 2, Component: reconcile.Base,
			Connects: 5, IssuedBy: "online", Rule: reconcile.RuleTOSRemoved, IdempotencyKey: "o:12",
			Verdict: reconcile.Unmatched},
	}}
	store.runs = []reconcile.RunSummary{{ID: "run-a", Mode: "run", Scope: "full", Status: reconcile.StatusSucceeded,
		StartedAt: at(1, 3), RefundsIssued: 1, ConnectsIssued: 4}}
	// exceptions by kind, as the store orders them: one acknowledged in
	// its current life, one reopened after an acknowledgement, one opened
	// by an incremental run after the last sweep (not as of it)
	store.exceptions = []reconcile.Exception{{ID: 2,
		Verdict: reconcile.Verdict{ProposalID: 40, Component: reconcile.Base, State: reconcile.UnexpectedRefund,
			FreelancerID: 400, JobID: 4, Refunded: 4},
		Status: reconcile.ExceptionOpen, FirstSeenAt: at(2, 0), OpenSince: at(15, 0),
		LastSeenAt: at(20, 0), ReopenedCount: 1, Ack: &reconcile.Ack{At: at(3, 0), By: "bo", Note: "the job was reopened; ticket 9"}}, {ID: 1,
		Verdict: reconcile.Verdict{ProposalID: 20, Component: reconcile.Boost, State: reconcile.AmountMismatch,
			FreelancerID: 200, JobID: 2, Rule: reconcile.RuleBoostOutbid, Charged: 6, Refunded: 5},
		Status: reconcile.ExceptionOpen, FirstSeenAt: at(10, 0), OpenSince: at(10, 0), LastSeenAt: at(19, 0),
		Ack: &reconcile.Ack{At: at(11, 0), By: "ana", Note: "ticket 7, the online path's rounding"}}, {ID: 3,
		Verdict: reconcile.Verdict{ProposalID: 50, Component: reconcile.Base, State: reconcile.WrongAccount,
			FreelancerID: 500, JobID: 5, Charged: 3, Refunded: 3, RefundedTo: 501},
		Status: reconcile.ExceptionOpen, FirstSeenAt: at(21, 0), OpenSince: at(21, 0), LastSeenAt: at(21, 0)}}
	ev := at(1, 2)
	// a sweep before the period's end, and one after it
	store.sweeps = []reconcile.SweepRecord{{
		Runs: []reconcile.SweepRun{{RunID: "run-a", Status: reconcile.StatusSucceeded, AsOf: at(20, 0), SettleCutoff: at(20, 0).Add(-15 * time.Minute),
			RecordedAt: at(20, 1), RefundsPlanned: 3, ConnectsPlanned: 9, RefundsIssued: 2, ConnectsIssued: 7, RefundsSkipped: 1}},
		AsOf: at(20, 0),
		States: []reconcile.SweepState{
			{State: reconcile.MissingRefund, StateTotal: reconcile.StateTotal{Count: 3, Connects: 9, OldestEventAt: &ev}},
			{State: reconcile.PendingRefund, StateTotal: reconcile.StateTotal{Count: 5, Connects: 20, OldestEventAt: &ev}},
			{State: reconcile.UnexpectedRefund, StateTotal: reconcile.StateTotal{Count: 1, Connects: -4},
				ExceptionAging: reconcile.ExceptionAging{Open: 1, OlderThan7d: 0, Unacknowledged: 1, OldestSince: ptr(at(15, 0))}},
			{State: reconcile.AmountMismatch, StateTotal: reconcile.StateTotal{Count: 1, Connects: 1},
				ExceptionAging: reconcile.ExceptionAging{Open: 1, OlderThan7d: 1, OldestSince: ptr(at(10, 0))}},
		}}, {
		Runs: []reconcile.SweepRun{{RunID: "run-b", Status: reconcile.StatusSucceeded, AsOf: at(33, 0), RecordedAt: at(33, 1)}},
		AsOf: at(33, 0),
		States: []reconcile.SweepState{
			{State: reconcile.WrongAccount, StateTotal: reconcile.StateTotal{Count: 1, Connects: 3},
				ExceptionAging: reconcile.ExceptionAging{Open: 3, Unacknowledged: 2, OldestSince: ptr(at(10, 0))}},
		}}}
	return &Finance{Store: store, Policy: reconcile.DefaultPolicy(), Price: reconcile.DefaultPrice}
}

func ptr[T any](v T) *T { return &v }

var november = Period{From: nov1, To: nov1.AddDate(0, 1, 0)}

func export(t *testing.T, f *Finance, kind Kind, p *Period, format string) (string, *Manifest) {
	t.Helper()
	s, ok := Lookup(string(kind))
	if !ok {
		t.Fatalf("no spec %s", kind)
	}
	var b bytes.Buffer
	m, err := f.Export(context.Background(), s, p, format, &b)
	if err != nil {
		t.Fatal(err)
	}
	return b.String(), m
}

// The CSV is what encoding/csv writes with UseCRLF for the same records:
// quoting only where needed, empty ids for a refund without a proposal,
// times in UTC with microseconds.
func TestRefundsCSV(t *testing.T) {
	t.Parallel()
	got, m := export(t, newTestFinance(), KindRefunds, &november, FormatCSV)
	var want bytes.Buffer
	w := csv.NewWriter(&want)
	w.UseCRLF = true
	for _, r := range [][]string{
		{"entry_id", "created_at", "freelancer_id", "proposal_id", "job_id", "component", "connects", "value_usd", "issued_by", "rule", "run_id", "idempotency_key", "verdict", "adjusts_period"},
		{"7", "2026-11-01T03:00:00.123456Z", "100", "10", "1", "base", "4", "0.60", "reconciler", "closed_without_hire", "run-a", "refund:10:base", "refunded", ""},
		{"8", "2026-11-01T05:00:00.000000Z", "101", "11", "1", "boost", "6", "0.90", "online", "boost_outbid", "", `online,"11" <b>`, "refunded", ""},
		{"9", "2026-11-02T01:00:00.000000Z", "102", "", "", "base", "3", "0.45", "online", "", "", " späť\nline", "unknown_proposal", ""},
		{"10", "2026-11-02T02:00:00.000000Z", "103", "12", "2", "base", "5", "0.75", "online", "tos_removed", "", "o:12", "unmatched", ""},
	} {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	if got != want.String() {
		t.Errorf("refunds CSV:\n got %q\nwant %q", got, want.String())
	}
	tot := m.Totals.(Totals)
	if m.Rows != 4 || tot.Connects != 18 || tot.Value != 270 || !m.Complete || !m.GeneratedAt.Equal(november.To) ||
		tot.ByIssuer["online"].Refunds != 3 || tot.ByRule["none"].Connects != 3 ||
		tot.Unmatched.Refunds != 1 || tot.Unmatched.Connects != 5 {
		t.Errorf("manifest: %+v", m)
	}
}

// The JSON rows are the CSV's columns, typed: exactly what encoding/json
// makes of the equivalent struct (money as a string, ids as numbers).
func TestRefundsJSON(t *testing.T) {
	t.Parallel()
	got, _ := export(t, newTestFinance(), KindRefunds, &november, FormatJSON)
	type object struct {
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
		Verdict        string          `json:"verdict"`
		AdjustsPeriod  string          `json:"adjusts_period"`
	}
	var doc struct {
		Kind    string            `json:"kind"`
		Period  Period            `json:"period"`
		Price   string            `json:"price_per_connect"`
		Columns []string          `json:"columns"`
		Rows    []json.RawMessage `json:"rows"`
		Totals  Totals            `json:"totals"`
	}
	if err := json.Unmarshal([]byte(got), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, got)
	}
	if doc.Kind != "refunds" || doc.Price != "0.15" || len(doc.Rows) != 4 || doc.Totals.Refunds != 4 || !doc.Period.From.Equal(nov1) {
		t.Errorf("head or totals: %+v", doc)
	}
	for i, raw := range doc.Rows {
		var o object
		if err := json.Unmarshal(raw, &o); err != nil {
			t.Fatal(err)
		}
		again, _ := json.Marshal(o)
		if !bytes.Equal(again, raw) {
			t.Errorf("row %d:\n got %s\nwant %s", i, raw, again)
		}
	}
	if !strings.HasPrefix(got, `{"kind":"refunds","period":{"from":"2026-11-01T00:00:00Z","to":"2026-12-01T00:00:00Z"},"price_per_connect":"0.15","columns":[`) ||
		!strings.Contains(got, "\n],\"totals\":{") || !strings.HasSuffix(got, "}\n") {
		t.Errorf("layout:\n%s", got)
	}
}

// Summary lines come per day, in rule precedence with "no rule" last; the
// last line holds the control totals; at a four-decimal price each row is
// rounded and the totals are sums of rows.
func TestSummary(t *testing.T) {
	t.Parallel()
	f := newTestFinance()
	got, m := export(t, f, KindSummary, &november, FormatCSV)
	want := "day,rule,component,issued_by,refunds,connects,value_usd\r\n" +
		"2026-11-01,closed_without_hire,base,reconciler,1,4,0.60\r\n" +
		"2026-11-01,boost_outbid,boost,online,1,6,0.90\r\n" +
		"2026-11-02,tos_removed,base,online,1,5,0.75\r\n" +
		"2026-11-02,,base,online,1,3,0.45\r\n" +
		"total,,,,4,18,2.70\r\n"
	if got != want || m.Rows != 4 {
		t.Errorf("summary (%d rows):\n got %q\nwant %q", m.Rows, got, want)
	}
	f.Price = reconcile.Price(1234)
	got, _ = export(t, f, KindSummary, &Period{From: at(1, 0), To: at(2, 0)}, FormatCSV)
	// 4 × 0.1234 = 0.4936 → 0.49 and 6 × 0.1234 = 0.7404 → 0.74: the total
	// is 1.23, the sum of the rows (not 10 × 0.1234 = 1.234 rounded once).
	if !strings.HasSuffix(got, "total,,,,2,10,1.23\r\n") {
		t.Errorf("summary at 0.1234:\n%s", got)
	}
	js, _ := export(t, f, KindSummary, &november, FormatJSON)
	if strings.Contains(js, `"total"`) || !strings.Contains(js, `{"day":"2026-11-02","rule":"","component":"base","issued_by":"online","refunds":1,"connects":3,"value_usd":"0.37"}`) {
		t.Errorf("summary JSON: the totals are not a row; lines as objects:\n%s", js)
	}
}

// A period still running is not complete and stands for the database's
// clock.
func TestRunningPeriod(t *testing.T) {
	t.Parallel()
	f := newTestFinance()
	_, m := export(t, f, KindRefunds, &Period{From: nov1, To: at(40, 0)}, FormatCSV)
	if m.Complete || !m.GeneratedAt.Equal(at(35, 0)) {
		t.Errorf("running period: complete %v, generated_at %v", m.Complete, m.GeneratedAt)
	}
}

// Discrepancies are the exceptions open as of the last full sweep, by kind
// then proposal, aged at its plan, difference = owed − refunded; an
// acknowledgement made before an exception reopened is not shown as its
// own. The owed refunds are the sweep's totals, pending apart.
func TestDiscrepancies(t *testing.T) {
	t.Parallel()
	f := newTestFinance()
	last := f.Store.(*memStore)
	last.sweeps = last.sweeps[:1] // the wrong_account exception opened after it
	got, m := export(t, f, KindDiscrepancies, nil, FormatCSV)
	want := "kind,proposal_id,component,freelancer_id,job_id,rule,charged,refunded,difference,value_usd,event_at,age_seconds," +
		"state,first_seen_at,exception_age_seconds,acked_by,acked_at,note\r\n" +
		"unexpected_refund,40,base,400,4,,0,4,-4,-0.60,,,open,2026-11-02T00:00:00.000000Z,432000,,,\r\n" +
		"amount_mismatch,20,boost,200,2,boost_outbid,6,5,1,0.15,,,open,2026-11-10T00:00:00.000000Z,864000,ana,2026-11-11T00:00:00.000000Z,\"ticket 7, the online path's rounding\"\r\n"
	if got != want {
		t.Errorf("discrepancies:\n got %q\nwant %q", got, want)
	}
	tot := m.Totals.(DiscrepancyTotals)
	if m.Period != nil || m.Rows != 2 || tot.ByKind["unexpected_refund"].ValueUSD != -60 || !m.GeneratedAt.Equal(at(20, 0)) ||
		tot.Owed[reconcile.MissingRefund].Count != 3 || tot.Owed[reconcile.PendingRefund].Connects != 20 ||
		tot.WrittenBySweep.Refunds != 2 || len(tot.SweepRuns) != 1 || tot.SweepRuns[0] != "run-a" {
		t.Errorf("manifest: %+v, totals %+v", m, tot)
	}
	js, _ := export(t, f, KindDiscrepancies, nil, FormatJSON)
	for _, want := range []string{`"event_at":null,"age_seconds":null,"state":"open",`,
		`"state":"open","first_seen_at":"2026-11-10T00:00:00.000000Z","exception_age_seconds":864000,"acked_by":"ana"`, `"job_id":4,`,
		`"owed":{"missing_refund":{"count":3,"connects":9,"value_usd":"1.35","oldest_event_at":"2026-11-01T02:00:00Z"},"pending_refund":{"count":5,`,
		`"as_of":"2026-11-20T00:00:00Z","sweep_runs":["run-a"]`} {
		if !strings.Contains(js, want) {
			t.Errorf("discrepancies JSON lacks %s:\n%s", want, js)
		}
	}
	if strings.Contains(js, `"period"`) || strings.Contains(js, "ticket 9") {
		t.Errorf("discrepancies JSON has a period, or the acknowledgement of an exception's earlier life:\n%s", js)
	}

	// No sweep on record: a clear error, not an empty export.
	last.sweeps = nil
	s, _ := Lookup(string(KindDiscrepancies))
	if _, err := f.Export(context.Background(), s, nil, FormatCSV, io.Discard); !errors.Is(err, ErrNoSweep) {
		t.Errorf("no sweep on record: got %v, want ErrNoSweep", err)
	}
}

// FILE, FILE.sha256 and FILE.manifest.json; the same period again gives
// the same bytes, manifest included; nothing else is left in the directory.
func TestExportFile(t *testing.T) {
	t.Parallel()
	f := newTestFinance()
	spec, _ := Lookup("refunds")
	var files [2]string
	for i := range files {
		dir := t.TempDir()
		files[i] = filepath.Join(dir, "nov.csv")
		m, err := f.ExportFile(context.Background(), spec, &november, FormatCSV, files[i])
		if err != nil {
			t.Fatal(err)
		}
		if m.File != "nov.csv" || len(m.SHA256) != 64 {
			t.Errorf("manifest: %+v", m)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 3 {
			t.Errorf("%d files in the directory, want 3", len(entries))
		}
		sum, _ := os.ReadFile(files[i] + ".sha256")
		if string(sum) != m.SHA256+"  nov.csv\n" {
			t.Errorf("sha256 file: %q", sum)
		}
		var back map[string]any
		mb, _ := os.ReadFile(files[i] + ".manifest.json")
		if err := json.Unmarshal(mb, &back); err != nil || back["rounding"] != RoundingNote || back["format"] != "csv" || back["policy"] != nil {
			t.Errorf("manifest file: %v\n%s", err, mb)
		}
	}
	for _, suffix := range []string{"", ".sha256", ".manifest.json"} {
		a, _ := os.ReadFile(files[0] + suffix)
		b, _ := os.ReadFile(files[1] + suffix)
		if !bytes.Equal(a, b) {
			t.Errorf("nov.csv%s differs between two exports", suffix)
		}
	}
}

// Cells are written as encoding/csv and encoding/json write them, whatever
// the text.
func TestCellsMatchTheEncoders(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", "a,b", `q"q`, " lead", "\tlead", "cr\rlf\n", `\.`, "<&>", "späť", "\u2028", "\x01", "a\\b", "\xff"} {
		var b bytes.Buffer
		w := csv.NewWriter(&b)
		w.UseCRLF = true
		_ = w.Write([]string{s})
		w.Flush()
		if got := string(appendCSVText(nil, s)) + "\r\n"; got != b.String() && !(s == "" && b.String() == "\"\"\r\n") {
			t.Errorf("CSV %q: got %q, encoding/csv %q", s, got, b.String())
		}
		j, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); !bytes.Equal(got, j) {
			t.Errorf("JSON %q: got %s, encoding/json %s", s, got, j)
		}
	}
	for _, c := range []reconcile.Cents{0, 5, -5, 100, -1234, 123456} {
		if got := string(appendCents(nil, int64(c))); got != c.String() {
			t.Errorf("cents %d: got %s, want %s", c, got, c)
		}
	}
}

func TestNiceScale(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ most, top, step int64 }{
		{0, 5, 1}, {1, 1, 1}, {4, 4, 1}, {7, 8, 2}, {23, 25, 5}, {254, 300, 100}, {1000, 1000, 200}, {1234, 1250, 250},
	} {
		if top, step := niceScale(c.most); top != c.top || step != c.step {
			t.Errorf("niceScale(%d) = %d, %d; want %d, %d", c.most, top, step, c.top, c.step)
		}
	}
}

// Writing a refund row and adding it to the summary allocates nothing, in
// CSV and in JSON: memory and garbage do not grow with the rows.
func TestRowsDoNotAllocate(t *testing.T) {
	r := newTestFinance().Store.(*memStore).refunds[0] // plain text: no escaping
	s := newSummary()
	s.add(&r, 90)
	for _, format := range []string{FormatCSV, FormatJSON} {
		e := newEncoder(format, io.Discard)
		var row refundRow
		if n := testing.AllocsPerRun(100, func() {
			row = refundRow{&r, 90}
			s.add(&r, 90)
			if err := writeRow(e, refundTable, &row); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s: %.1f allocations per row, want 0", format, n)
		}
	}
}
