package finance

import (
	"context"
	"time"

	"github.com/connects/connects-reconciler/reconcile"
)

// Discrepancy is one line of the discrepancies export: an exception open as
// of the last full sweep.
type Discrepancy struct {
	Kind         reconcile.State
	ProposalID   int64
	Component    string
	FreelancerID int64
	JobID        int64
	Rule         string
	Charged      int64
	Refunded     int64
	Difference   int64 // owed minus refunded: positive is owed to the freelancer
	ValueUSD     reconcile.Cents
	// EventAt and AgeSeconds were the entitling event and its age of owed
	// refunds, which are no longer rows (the export's totals count them):
	// always empty, kept so that the columns stay where finance expects them.
	EventAt    *time.Time
	AgeSeconds *int64

	// The job's record of it (reconciler_exceptions): State as recorded
	// (open), when it was first seen, its age at the sweep's plan, and its
	// latest acknowledgement if made since it last opened.
	State               string
	FirstSeenAt         *time.Time
	ExceptionAgeSeconds *int64 // the sweep's plan time minus when it (re)opened
	AckedBy             string
	AckedAt             *time.Time
	Note                string
}

var discrepancyTable = table[Discrepancy]{
	{"kind", func(d *Discrepancy) cell { return textCell(string(d.Kind)) }},
	{"proposal_id", func(d *Discrepancy) cell { return intCell(d.ProposalID) }},
	{"component", func(d *Discrepancy) cell { return textCell(d.Component) }},
	{"freelancer_id", func(d *Discrepancy) cell { return intCell(d.FreelancerID) }},
	{"job_id", func(d *Discrepancy) cell { return idCell(d.JobID) }},
	{"rule", func(d *Discrepancy) cell { return textCell(d.Rule) }},
	{"charged", func(d *Discrepancy) cell { return intCell(d.Charged) }},
	{"refunded", func(d *Discrepancy) cell { return intCell(d.Refunded) }},
	{"difference", func(d *Discrepancy) cell { return intCell(d.Difference) }},
	{"value_usd", func(d *Discrepancy) cell { return moneyCell(d.ValueUSD) }},
	{"event_at", func(d *Discrepancy) cell { return optTimeCell(d.EventAt) }},
	{"age_seconds", func(d *Discrepancy) cell { return optIntCell(d.AgeSeconds) }},
	{"state", func(d *Discrepancy) cell { return textCell(d.State) }},
	{"first_seen_at", func(d *Discrepancy) cell { return optTimeCell(d.FirstSeenAt) }},
	{"exception_age_seconds", func(d *Discrepancy) cell { return optIntCell(d.ExceptionAgeSeconds) }},
	{"acked_by", func(d *Discrepancy) cell { return textCell(d.AckedBy) }},
	{"acked_at", func(d *Discrepancy) cell { return optTimeCell(d.AckedAt) }},
	{"note", func(d *Discrepancy) cell { return textCell(d.Note) }},
}

// fromException is the line of an exception open as of a sweep whose plan
// was at asOf: its age is counted to asOf, and its latest acknowledgement is
// shown only when made in its current life (since it last opened): an
// acknowledgement from before it reopened is not a decision about it now.
func fromException(e reconcile.Exception, price reconcile.Price, asOf time.Time) Discrepancy {
	diff := reconcile.Discrepancy{Kind: e.Kind, Charged: e.Charged, Refunded: e.Refunded}.Difference()
	first := e.FirstSeenAt
	age := int64(e.Age(asOf) / time.Second)
	d := Discrepancy{Kind: e.Kind, ProposalID: e.ProposalID, Component: string(e.Component),
		FreelancerID: e.FreelancerID, JobID: e.JobID, Rule: string(e.Rule), Charged: e.Charged, Refunded: e.Refunded,
		Difference: diff, ValueUSD: price.Value(diff), State: e.State, FirstSeenAt: &first, ExceptionAgeSeconds: &age}
	if e.Acknowledged() {
		at := e.Ack.At
		d.AckedBy, d.AckedAt, d.Note = e.Ack.By, &at, e.Ack.Note
	}
	return d
}

// eachDiscrepancy calls fn for every exception open as of the sweep record
// rec, by kind then proposal, as the store streams them.
func (f *Finance) eachDiscrepancy(ctx context.Context, rec *reconcile.SweepRecord, fn func(Discrepancy, reconcile.Exception) error) error {
	return f.Store.SweepExceptions(ctx, rec.AsOf, func(e reconcile.Exception) error {
		return fn(fromException(e, f.Price, rec.AsOf), e)
	})
}

// DiscrepancyTotals count the discrepancies by kind, with what they amount
// to, and say which sweep's record they come from, with the refunds it
// found owed.
type DiscrepancyTotals struct {
	Discrepancies int64                              `json:"discrepancies"`
	ByKind        map[reconcile.State]DiscrepancySum `json:"by_kind"`

	// AsOf is the sweep's plan time (the latest shard's); SweepRuns the
	// sweeps' run ids, one per shard.
	AsOf      *time.Time `json:"as_of,omitempty"`
	SweepRuns []string   `json:"sweep_runs,omitempty"`
	// Owed are the refunds the sweep found owed and not in the ledger:
	// missing_refund (settled: the sweep writes them) and pending_refund
	// (inside the settle delay: the online path may still write them).
	Owed map[reconcile.State]OwedSum `json:"owed,omitempty"`
	// WrittenBySweep is what the sweep wrote of its missing refunds.
	WrittenBySweep *reconcile.Amount `json:"written_by_sweep,omitempty"`
}

// DiscrepancySum is the count, difference and value of one kind.
type DiscrepancySum struct {
	Count      int64           `json:"count"`
	Difference int64           `json:"difference"`
	ValueUSD   reconcile.Cents `json:"value_usd"`
}

// OwedSum is what a sweep found owed in one state: how many refunds, their
// Connects and value, and the earliest entitling event.
type OwedSum struct {
	Count         int64           `json:"count"`
	Connects      int64           `json:"connects"`
	ValueUSD      reconcile.Cents `json:"value_usd"`
	OldestEventAt *time.Time      `json:"oldest_event_at"`
}

func newDiscrepancyTotals() DiscrepancyTotals {
	return DiscrepancyTotals{ByKind: map[reconcile.State]DiscrepancySum{}}
}

func (t *DiscrepancyTotals) add(d Discrepancy) {
	t.Discrepancies++
	s := t.ByKind[d.Kind]
	s.Count++
	s.Difference += d.Difference
	s.ValueUSD += d.ValueUSD
	t.ByKind[d.Kind] = s
}

// owed is what rec found owed in state s.
func owed(rec *reconcile.SweepRecord, s reconcile.State, price reconcile.Price) OwedSum {
	x := rec.State(s)
	return OwedSum{Count: x.Count, Connects: x.Connects, ValueUSD: price.Value(x.Connects), OldestEventAt: x.OldestEventAt}
}

// withSweep says which sweep the totals come from, with what it found owed.
func (t *DiscrepancyTotals) withSweep(rec *reconcile.SweepRecord, price reconcile.Price) {
	asOf := rec.AsOf
	t.AsOf = &asOf
	for _, r := range rec.Runs {
		t.SweepRuns = append(t.SweepRuns, r.RunID)
	}
	t.Owed = map[reconcile.State]OwedSum{}
	for _, s := range []reconcile.State{reconcile.MissingRefund, reconcile.PendingRefund} {
		t.Owed[s] = owed(rec, s, price)
	}
	_, issued, _ := rec.Issued()
	t.WrittenBySweep = &issued
}

// exportDiscrepancies writes the exceptions open as of the last full
// sweep's record, and its owed totals: nothing is planned, so the cost is
// that of the open exceptions, whatever the size of the marketplace.
func (f *Finance) exportDiscrepancies(ctx context.Context, _ *Period, e *encoder) (*Manifest, error) {
	rec, err := f.Store.LastSweep(ctx, nil)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, ErrNoSweep
	}
	m := &Manifest{Kind: KindDiscrepancies, GeneratedAt: rec.AsOf, Complete: true, Columns: discrepancyTable.names()}
	if err := e.begin(m.Kind, nil, f.Price, m.Columns); err != nil {
		return nil, err
	}
	t := newDiscrepancyTotals()
	t.withSweep(rec, f.Price)
	if err := f.eachDiscrepancy(ctx, rec, func(d Discrepancy, _ reconcile.Exception) error {
		t.add(d)
		return writeRow(e, discrepancyTable, &d)
	}); err != nil {
		return nil, err
	}
	m.Rows, m.Totals = t.Discrepancies, t
	return m, e.end(t)
}
