package reconcile

import (
	"sort"
	"strconv"
	"time"
)

// Class is what the policy concludes for one proposal component.
type Class string

// Classes the store reports for a component. Components with nothing to do are
// never reported.
const (
	ClassRefund           Class = "refund"
	ClassPending          Class = "pending"
	ClassMissingBalance   Class = Class(MissingBalance)
	ClassUnexpectedRefund Class = Class(UnexpectedRefund)
	ClassAmountMismatch   Class = Class(AmountMismatch)
)

// Finding is one proposal component the policy has something to say about.
type Finding struct {
	ProposalID   int64
	JobID        int64
	FreelancerID int64 // the account that was charged
	Component    Component
	Rule         Rule  // empty when no rule entitles the component
	Charged      int64 // charged(P, C)
	Refunded     int64 // sum of existing refund entries, 0 when none
	EventAt      *time.Time
	Class        Class
}

// Refund is a refund the job will write (or, after a run, wrote).
type Refund struct {
	ProposalID   int64     `json:"proposal_id"`
	FreelancerID int64     `json:"freelancer_id"`
	JobID        int64     `json:"job_id"`
	Component    Component `json:"component"`
	Connects     int64     `json:"connects"`
	Rule         Rule      `json:"rule"`
	// LedgerEntryID is set on refunds a run wrote.
	LedgerEntryID int64 `json:"ledger_entry_id,omitempty"`
	// EventAt is when the entitling event happened (close, removal, auction
	// end); not part of the report's fixed shape.
	EventAt *time.Time `json:"-"`
}

// IdempotencyKey is the ledger key the job writes this refund under.
func (r Refund) IdempotencyKey() string {
	return RefundKey(r.ProposalID, r.Component)
}

// RefundKey is the contract's idempotency key for a refund written by the job.
func RefundKey(proposalID int64, c Component) string {
	return "refund:" + strconv.FormatInt(proposalID, 10) + ":" + string(c)
}

// Discrepancy is something found that a person must decide about.
type Discrepancy struct {
	ProposalID   int64           `json:"proposal_id"`
	Component    Component       `json:"component"`
	Kind         DiscrepancyKind `json:"kind"`
	FreelancerID int64           `json:"freelancer_id"`
	JobID        int64           `json:"job_id"`
	Rule         Rule            `json:"rule,omitempty"`
	Charged      int64           `json:"charged"`
	Refunded     int64           `json:"refunded"`
}

// Plan is what a run found: the refunds to write and the discrepancies, at
// one moment of the database's clock.
type Plan struct {
	AsOf         time.Time `json:"as_of"`
	SettleCutoff time.Time `json:"settle_cutoff"`
	Policy       Policy    `json:"policy"`
	// Scope is "full" or "incremental"; Shard is "I/N" or "".
	Scope         string        `json:"scope"`
	Shard         string        `json:"shard,omitempty"`
	Refunds       []Refund      `json:"refunds"`
	Discrepancies []Discrepancy `json:"discrepancies"`
	// Pending counts owed refunds still inside the settle delay.
	Pending int64 `json:"pending"`
	// OldestPending is the earliest event among pending refunds.
	OldestPending *time.Time `json:"oldest_pending,omitempty"`
	// PendingRefunds are the owed refunds still inside the settle delay, for
	// the finance export's missing refunds; never written by this plan.
	PendingRefunds []Refund `json:"-"`
}

// Add files one finding in the plan.
func (p *Plan) Add(f Finding) {
	switch f.Class {
	case ClassRefund:
		p.Refunds = append(p.Refunds, Refund{
			ProposalID: f.ProposalID, FreelancerID: f.FreelancerID, JobID: f.JobID,
			Component: f.Component, Connects: f.Charged, Rule: f.Rule, EventAt: f.EventAt,
		})
	case ClassPending:
		p.Pending++
		p.PendingRefunds = append(p.PendingRefunds, Refund{
			ProposalID: f.ProposalID, FreelancerID: f.FreelancerID, JobID: f.JobID,
			Component: f.Component, Connects: f.Charged, Rule: f.Rule, EventAt: f.EventAt,
		})
		if f.EventAt != nil && (p.OldestPending == nil || f.EventAt.Before(*p.OldestPending)) {
			t := *f.EventAt
			p.OldestPending = &t
		}
	default:
		p.Discrepancies = append(p.Discrepancies, Discrepancy{
			ProposalID: f.ProposalID, Component: f.Component, Kind: DiscrepancyKind(f.Class),
			FreelancerID: f.FreelancerID, JobID: f.JobID, Rule: f.Rule,
			Charged: f.Charged, Refunded: f.Refunded,
		})
	}
}

// Amount is a count of refunds and the Connects they return.
type Amount struct {
	Refunds  int64 `json:"refunds"`
	Connects int64 `json:"connects"`
}

// Totals summarise a set of refunds and discrepancies.
type Totals struct {
	Refunds             int64                     `json:"refunds"`
	Connects            int64                     `json:"connects"`
	ByRule              map[Rule]Amount           `json:"by_rule"`
	ByComponent         map[Component]Amount      `json:"by_component"`
	Discrepancies       int64                     `json:"discrepancies"`
	DiscrepanciesByKind map[DiscrepancyKind]int64 `json:"discrepancies_by_kind"`
	Pending             int64                     `json:"pending"`
}

// Sum totals refunds and discrepancies.
func Sum(refunds []Refund, discrepancies []Discrepancy) Totals {
	t := Totals{
		ByRule:              map[Rule]Amount{},
		ByComponent:         map[Component]Amount{},
		DiscrepanciesByKind: map[DiscrepancyKind]int64{},
	}
	for _, r := range refunds {
		t.Refunds++
		t.Connects += r.Connects
		a := t.ByRule[r.Rule]
		a.Refunds++
		a.Connects += r.Connects
		t.ByRule[r.Rule] = a
		c := t.ByComponent[r.Component]
		c.Refunds++
		c.Connects += r.Connects
		t.ByComponent[r.Component] = c
	}
	for _, d := range discrepancies {
		t.Discrepancies++
		t.DiscrepanciesByKind[d.Kind]++
	}
	return t
}

// OldestOwed is the earliest event among refunds owed but not in the ledger
// when the plan was made (planned or still inside the settle delay), or nil.
func (p *Plan) OldestOwed() *time.Time {
	oldest := p.OldestPending
	for _, r := range p.Refunds {
		if r.EventAt != nil && (oldest == nil || r.EventAt.Before(*oldest)) {
			oldest = r.EventAt
		}
	}
	return oldest
}

// Totals summarises the plan.
func (p *Plan) Totals() Totals {
	t := Sum(p.Refunds, p.Discrepancies)
	t.Pending = p.Pending
	return t
}

// Sort puts refunds and discrepancies in proposal, component order.
func (p *Plan) Sort() {
	sort.Slice(p.Refunds, func(i, j int) bool {
		return lessPC(p.Refunds[i].ProposalID, p.Refunds[i].Component, p.Refunds[j].ProposalID, p.Refunds[j].Component)
	})
	sort.Slice(p.Discrepancies, func(i, j int) bool {
		return lessPC(p.Discrepancies[i].ProposalID, p.Discrepancies[i].Component, p.Discrepancies[j].ProposalID, p.Discrepancies[j].Component)
	})
}

func lessPC(p1 int64, c1 Component, p2 int64, c2 Component) bool {
	if p1 != p2 {
		return p1 < p2
	}
	return c1 < c2
}
