package finance

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/connects/connects-reconciler/reconcile"
)

// discrepancyOrder is the order of the kinds in the export and the report:
// the owed refunds (missing, then pending), then the plan's discrepancies in
// their order.
var discrepancyOrder = append([]reconcile.State{reconcile.MissingRefund, reconcile.PendingRefund}, reconcile.DiscrepancyStates...)

// Discrepancy is one line of the discrepancies export.
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
	EventAt      *time.Time // the entitling event, for owed refunds
	AgeSeconds   *int64     // the plan's time minus EventAt

	// The job's record of it (reconciler_exceptions), for the plan's
	// discrepancies; owed refunds are not exceptions and leave these empty.
	// State is open or closed as recorded, or "new" when no run has
	// recorded it yet.
	State               string
	FirstSeenAt         *time.Time
	ExceptionAgeSeconds *int64 // the plan's time minus when it (re)opened
	AckedBy             string
	AckedAt             *time.Time
	Note                string
}

// StateNew is the state of a discrepancy that no run has recorded as an
// exception yet (found by the export's own plan first).
const StateNew = "new"

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

// exceptionsOf reads the job's exceptions of the plan's discrepancies, in
// one statement.
func (f *Finance) exceptionsOf(ctx context.Context, plan *reconcile.Plan) (map[reconcile.ExceptionKey]reconcile.Exception, error) {
	var keys []reconcile.ExceptionKey
	if err := plan.EachDiscrepancy(func(d reconcile.Discrepancy) error {
		keys = append(keys, reconcile.ExceptionKey{ProposalID: d.ProposalID, Component: d.Component, Kind: d.Kind})
		return nil
	}); err != nil {
		return nil, err
	}
	out := map[reconcile.ExceptionKey]reconcile.Exception{}
	if len(keys) == 0 {
		return out, nil
	}
	es, err := f.Store.ExceptionsOf(ctx, keys)
	if err != nil {
		return nil, err
	}
	for _, e := range es {
		out[e.ExceptionKey] = e
	}
	return out, nil
}

// withException fills d's exception columns from e (nil: not recorded yet).
func (d *Discrepancy) withException(e *reconcile.Exception, asOf time.Time) {
	if e == nil {
		d.State = StateNew
		return
	}
	first := e.FirstSeenAt
	age := int64(e.Age(asOf) / time.Second)
	d.State, d.FirstSeenAt, d.ExceptionAgeSeconds = e.State, &first, &age
	if e.Ack != nil {
		at := e.Ack.At
		d.AckedBy, d.AckedAt, d.Note = e.Ack.By, &at, e.Ack.Note
	}
}

// discrepancies plans the whole marketplace (writing nothing): the plan
// holds what a person must look at, as of its time, with the exceptions
// recorded for its discrepancies. The caller closes the plan.
func (f *Finance) discrepancies(ctx context.Context) (*reconcile.Plan, map[reconcile.ExceptionKey]reconcile.Exception, error) {
	plan, err := f.Planner.Plan(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("plan: %w", err)
	}
	exc, err := f.exceptionsOf(ctx, plan)
	if err != nil {
		plan.Close()
		return nil, nil, err
	}
	return plan, exc, nil
}

// eachDiscrepancy calls fn for every line of the discrepancies listing, by
// kind then proposal: the owed refunds missing and pending stream from the
// plan's spool (a backlog may hold a million); the others, which a person
// decides one by one, are sorted by kind in memory.
func eachDiscrepancy(plan *reconcile.Plan, price reconcile.Price, exc map[reconcile.ExceptionKey]reconcile.Exception, fn func(Discrepancy) error) error {
	owed := func(kind reconcile.State) func(reconcile.Refund) error {
		return func(x reconcile.Refund) error {
			d := Discrepancy{Kind: kind, ProposalID: x.ProposalID, Component: string(x.Component), FreelancerID: x.FreelancerID,
				JobID: x.JobID, Rule: string(x.Rule), Charged: x.Connects, Difference: x.Connects, ValueUSD: price.Value(x.Connects)}
			if x.EventAt != nil {
				ev := x.EventAt.UTC()
				age := int64(plan.AsOf.Sub(*x.EventAt) / time.Second)
				d.EventAt, d.AgeSeconds = &ev, &age
			}
			return fn(d)
		}
	}
	if err := plan.EachRefund(owed(reconcile.MissingRefund)); err != nil {
		return err
	}
	if err := plan.EachPending(owed(reconcile.PendingRefund)); err != nil {
		return err
	}
	found, err := plan.Discrepancies()
	if err != nil {
		return err
	}
	rank := map[reconcile.State]int{}
	for i, k := range reconcile.DiscrepancyStates {
		rank[k] = i
	}
	sort.SliceStable(found, func(i, j int) bool { return rank[found[i].Kind] < rank[found[j].Kind] })
	for _, x := range found {
		diff := x.Charged - x.Refunded
		switch x.Kind {
		case reconcile.UnexpectedRefund:
			diff = -x.Refunded
		case reconcile.WrongAccount:
			diff = x.Charged // nothing reached the account charged
		}
		d := Discrepancy{Kind: x.Kind, ProposalID: x.ProposalID, Component: string(x.Component),
			FreelancerID: x.FreelancerID, JobID: x.JobID, Rule: string(x.Rule), Charged: x.Charged, Refunded: x.Refunded,
			Difference: diff, ValueUSD: price.Value(diff)}
		var e *reconcile.Exception
		if rec, ok := exc[reconcile.ExceptionKey{ProposalID: x.ProposalID, Component: x.Component, Kind: x.Kind}]; ok {
			e = &rec
		}
		d.withException(e, plan.AsOf)
		if err := fn(d); err != nil {
			return err
		}
	}
	return nil
}

// DiscrepancyTotals count the discrepancies by kind, with what they amount
// to.
type DiscrepancyTotals struct {
	Discrepancies int64                              `json:"discrepancies"`
	ByKind        map[reconcile.State]DiscrepancySum `json:"by_kind"`
}

// DiscrepancySum is the count, difference and value of one kind.
type DiscrepancySum struct {
	Count      int64           `json:"count"`
	Difference int64           `json:"difference"`
	ValueUSD   reconcile.Cents `json:"value_usd"`
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

func (f *Finance) exportDiscrepancies(ctx context.Context, _ *Period, e *encoder) (*Manifest, error) {
	plan, exc, err := f.discrepancies(ctx)
	if err != nil {
		return nil, err
	}
	defer plan.Close()
	m := &Manifest{Kind: KindDiscrepancies, GeneratedAt: plan.AsOf, Complete: true, Columns: discrepancyTable.names()}
	if err := e.begin(m.Kind, nil, f.Price, m.Columns); err != nil {
		return nil, err
	}
	t := newDiscrepancyTotals()
	if err := eachDiscrepancy(plan, f.Price, exc, func(d Discrepancy) error {
		t.add(d)
		return writeRow(e, discrepancyTable, &d)
	}); err != nil {
		return nil, err
	}
	m.Rows, m.Totals = t.Discrepancies, t
	return m, e.end(t)
}
