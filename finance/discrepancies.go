package finance

import (
	"context"
	"time"

	"github.com/connects/connects-reconciler/reconcile"
)

// Discrepancy is one line of the discrepancies export: an exception open as
// of the last full sweep (its verdict, as the last run that saw it found it,
// and its record), with what it amounts to and its age at the sweep's plan.
type Discrepancy struct {
	reconcile.Exception
	// ValueUSD is the value of its Difference (Verdict.Difference: owed
	// minus refunded, positive is owed to the freelancer).
	ValueUSD reconcile.Cents
	// ExceptionAgeSeconds is the sweep's plan time minus when it (re)opened.
	ExceptionAgeSeconds int64
}

// Kind is the discrepancy's kind.
func (d Discrepancy) Kind() reconcile.State { return d.State }

// CurrentAck is its latest acknowledgement when made since it last opened,
// nil otherwise: an acknowledgement from before it reopened is not a
// decision about it now.
func (d Discrepancy) CurrentAck() *reconcile.Ack {
	if d.Acknowledged() {
		return d.Ack
	}
	return nil
}

// EarlierAck is its latest acknowledgement when made before it last
// reopened: shown as history, never as a decision about it now.
func (d Discrepancy) EarlierAck() *reconcile.Ack {
	if d.Ack != nil && !d.Acknowledged() {
		return d.Ack
	}
	return nil
}

// The export's columns. event_at and age_seconds were the entitling event
// and its age of owed refunds, which are no longer rows (the export's totals
// count them): always empty, kept so that the columns stay where finance
// expects them.
var discrepancyTable = table[Discrepancy]{
	{"kind", func(d *Discrepancy) cell { return textCell(string(d.State)) }},
	{"proposal_id", func(d *Discrepancy) cell { return intCell(d.ProposalID) }},
	{"component", func(d *Discrepancy) cell { return textCell(string(d.Component)) }},
	{"freelancer_id", func(d *Discrepancy) cell { return intCell(d.FreelancerID) }},
	{"job_id", func(d *Discrepancy) cell { return idCell(d.JobID) }},
	{"rule", func(d *Discrepancy) cell { return textCell(string(d.Rule)) }},
	{"charged", func(d *Discrepancy) cell { return intCell(d.Charged) }},
	{"refunded", func(d *Discrepancy) cell { return intCell(d.Refunded) }},
	{"difference", func(d *Discrepancy) cell { return intCell(d.Difference()) }},
	{"value_usd", func(d *Discrepancy) cell { return moneyCell(d.ValueUSD) }},
	{"event_at", func(d *Discrepancy) cell { return optTimeCell(nil) }},
	{"age_seconds", func(d *Discrepancy) cell { return optIntCell(nil) }},
	{"state", func(d *Discrepancy) cell { return textCell(d.Status) }},
	{"first_seen_at", func(d *Discrepancy) cell { return timeCell(d.FirstSeenAt) }},
	{"exception_age_seconds", func(d *Discrepancy) cell { return intCell(d.ExceptionAgeSeconds) }},
	{"acked_by", func(d *Discrepancy) cell {
		return optCell(d.CurrentAck(), func(a reconcile.Ack) cell { return textCell(a.By) })
	}},
	{"acked_at", func(d *Discrepancy) cell {
		return optCell(d.CurrentAck(), func(a reconcile.Ack) cell { return timeCell(a.At) })
	}},
	{"note", func(d *Discrepancy) cell {
		return optCell(d.CurrentAck(), func(a reconcile.Ack) cell { return textCell(a.Note) })
	}},
}

// fromException is the line of an exception open as of a sweep whose plan
// was at asOf: its age is counted to asOf.
func fromException(e reconcile.Exception, price reconcile.Price, asOf time.Time) Discrepancy {
	return Discrepancy{Exception: e, ValueUSD: price.Value(e.Difference()),
		ExceptionAgeSeconds: int64(e.Age(asOf) / time.Second)}
}

// eachDiscrepancy calls fn for every exception open as of the sweep record
// rec, by kind then proposal, as the store streams them.
func (f *Finance) eachDiscrepancy(ctx context.Context, rec *reconcile.SweepRecord, fn func(Discrepancy) error) error {
	return f.Store.SweepExceptions(ctx, rec.AsOf, func(e reconcile.Exception) error {
		return fn(fromException(e, f.Price, rec.AsOf))
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
	s := t.ByKind[d.State]
	s.Count++
	s.Difference += d.Difference()
	s.ValueUSD += d.ValueUSD
	t.ByKind[d.State] = s
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
	if err := f.eachDiscrepancy(ctx, rec, func(d Discrepancy) error {
		t.add(d)
		return writeRow(e, discrepancyTable, &d)
	}); err != nil {
		return nil, err
	}
	m.Rows, m.Totals = t.Discrepancies, t
	return m, e.end(t)
}
