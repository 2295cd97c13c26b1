package finance

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/connects/connects-reconciler/reconcile"
)

// Kinds of the discrepancies export beyond the plan's discrepancy kinds.
const (
	MissingRefund = "missing_refund" // owed, settled, not in the ledger: a run will write it (or was refused, or failed)
	PendingRefund = "pending_refund" // owed, inside the settle delay: the online path may still write it
)

// discrepancyOrder is the order of the kinds in the export and the report.
var discrepancyOrder = []string{MissingRefund, PendingRefund, string(reconcile.MissingBalance),
	string(reconcile.AmountMismatch), string(reconcile.UnexpectedRefund)}

// Discrepancy is one line of the discrepancies export.
type Discrepancy struct {
	Kind         string
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
}

var discrepancyTable = table[Discrepancy]{
	{"kind", func(d *Discrepancy) cell { return textCell(d.Kind) }},
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
}

// discrepancies plans the whole marketplace (writing nothing) and lists what
// a person must look at, as of the plan's time, by kind then proposal.
func (f *Finance) discrepancies(ctx context.Context) (*reconcile.Plan, []Discrepancy, error) {
	plan, err := f.Planner.Plan(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("plan: %w", err)
	}
	return plan, listDiscrepancies(plan, f.Price), nil
}

func listDiscrepancies(plan *reconcile.Plan, price reconcile.Price) []Discrepancy {
	var out []Discrepancy
	owed := func(kind string, rs []reconcile.Refund) {
		for _, x := range rs {
			d := Discrepancy{Kind: kind, ProposalID: x.ProposalID, Component: string(x.Component), FreelancerID: x.FreelancerID,
				JobID: x.JobID, Rule: string(x.Rule), Charged: x.Connects, Difference: x.Connects, ValueUSD: price.Value(x.Connects)}
			if x.EventAt != nil {
				ev := x.EventAt.UTC()
				age := int64(plan.AsOf.Sub(*x.EventAt) / time.Second)
				d.EventAt, d.AgeSeconds = &ev, &age
			}
			out = append(out, d)
		}
	}
	owed(MissingRefund, plan.Refunds)
	owed(PendingRefund, plan.PendingRefunds)
	for _, x := range plan.Discrepancies {
		diff := x.Charged - x.Refunded
		if x.Kind == reconcile.UnexpectedRefund {
			diff = -x.Refunded
		}
		out = append(out, Discrepancy{Kind: string(x.Kind), ProposalID: x.ProposalID, Component: string(x.Component),
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
	return out
}

// DiscrepancyTotals count the discrepancies by kind, with what they amount
// to.
type DiscrepancyTotals struct {
	Discrepancies int64                     `json:"discrepancies"`
	ByKind        map[string]DiscrepancySum `json:"by_kind"`
}

// DiscrepancySum is the count, difference and value of one kind.
type DiscrepancySum struct {
	Count      int64           `json:"count"`
	Difference int64           `json:"difference"`
	ValueUSD   reconcile.Cents `json:"value_usd"`
}

func sumDiscrepancies(ds []Discrepancy) DiscrepancyTotals {
	t := DiscrepancyTotals{ByKind: map[string]DiscrepancySum{}}
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

func (f *Finance) exportDiscrepancies(ctx context.Context, _ *Period, e *encoder) (*Manifest, error) {
	plan, ds, err := f.discrepancies(ctx)
	if err != nil {
		return nil, err
	}
	m := &Manifest{Kind: KindDiscrepancies, GeneratedAt: plan.AsOf, Complete: true, Columns: discrepancyTable.names()}
	if err := e.begin(m.Kind, nil, f.Price, m.Columns); err != nil {
		return nil, err
	}
	for i := range ds {
		if err := writeRow(e, discrepancyTable, &ds[i]); err != nil {
			return nil, err
		}
	}
	t := sumDiscrepancies(ds)
	m.Rows, m.Totals = t.Discrepancies, t
	return m, e.end(t)
}
