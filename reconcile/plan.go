package reconcile

import (
	"encoding/json"
	"errors"
	"maps"
	"strconv"
	"time"
)

// Verdict is the policy's verdict on one proposal component, with what the
// ledger holds of it: the job's one record of a decision, from the store to
// finance. policy.sql emits it (the store's plan statement, PlanSlice), the
// plan files it by State and spools it, the plan file carries it, the run
// writes it (Store.Apply answers by its index in the batch) and records it as
// written or skipped, and recording the run matches its refund entry and
// keeps it as an exception (Exception.Verdict) that finance exports. Refund
// and Discrepancy are views of it: the same record under a type whose methods
// and JSON shape are those of a refund or a discrepancy.
type Verdict struct {
	ProposalID   int64
	JobID        int64
	FreelancerID int64 // the account that was charged
	Component    Component
	Rule         Rule  // empty when no rule entitles the component
	Charged      int64 // charged(P, C)
	Refunded     int64 // sum of existing refund entries, 0 when none
	RefundedTo   int64 // the account an existing refund credited, 0 when none
	EventAt      *time.Time
	State        State
	// LedgerEntryID is the refund entry a run wrote for it.
	LedgerEntryID int64
	// MatchEntryID, when set, is the component's refund entry, settled and
	// perhaps not matched yet: the run matches it to this verdict
	// (Plan.EachMatch). MatchEntryAt is its created_at. A verdict with a
	// MatchEntryID and no State is a refund the policy agrees with.
	MatchEntryID int64
	MatchEntryAt time.Time
}

// Key names the verdict's proposal component.
func (v Verdict) Key() ComponentKey { return ComponentKey{v.ProposalID, v.Component} }

// Difference is what a discrepancy amounts to in Connects, owed minus
// refunded: positive is owed to the freelancer, negative was over-refunded.
// A refund no rule entitles is all over-refunded; a refund to another
// account than the one charged never reached it, so the whole charge is.
func (v Verdict) Difference() int64 {
	switch v.State {
	case UnexpectedRefund:
		return -v.Refunded
	case WrongAccount:
		return v.Charged
	}
	return v.Charged - v.Refunded
}

// Refund is a verdict seen as a refund: one to write (missing_refund), one
// inside the settle delay (pending_refund), or one a run wrote
// (LedgerEntryID set). It returns Charged Connects to FreelancerID.
type Refund Verdict

// Connects is what the refund returns: what was charged for the component.
func (r Refund) Connects() int64 { return r.Charged }

// IdempotencyKey is the ledger key the job writes this refund under.
func (r Refund) IdempotencyKey() string {
	return RefundKey(r.ProposalID, r.Component)
}

// RefundKey is the contract's idempotency key for a refund written by the job.
func RefundKey(proposalID int64, c Component) string {
	return "refund:" + strconv.FormatInt(proposalID, 10) + ":" + string(c)
}

// refundJSON is a refund's shape in the run report.
type refundJSON struct {
	ProposalID    int64     `json:"proposal_id"`
	FreelancerID  int64     `json:"freelancer_id"`
	JobID         int64     `json:"job_id"`
	Component     Component `json:"component"`
	Connects      int64     `json:"connects"`
	Rule          Rule      `json:"rule"`
	LedgerEntryID int64     `json:"ledger_entry_id,omitempty"`
}

func (r Refund) wire() refundJSON {
	return refundJSON{ProposalID: r.ProposalID, FreelancerID: r.FreelancerID, JobID: r.JobID,
		Component: r.Component, Connects: r.Charged, Rule: r.Rule, LedgerEntryID: r.LedgerEntryID}
}

// MarshalJSON writes the refund as the run report shows it.
func (r Refund) MarshalJSON() ([]byte, error) { return json.Marshal(r.wire()) }

// UnmarshalJSON reads what MarshalJSON writes.
func (r *Refund) UnmarshalJSON(b []byte) error {
	var w refundJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*r = Refund{ProposalID: w.ProposalID, FreelancerID: w.FreelancerID, JobID: w.JobID, Component: w.Component,
		Charged: w.Connects, Rule: w.Rule, LedgerEntryID: w.LedgerEntryID}
	return nil
}

// Discrepancy is a verdict seen as something a person must decide about: its
// State is the kind, one of DiscrepancyStates.
type Discrepancy Verdict

// Difference is Verdict.Difference.
func (d Discrepancy) Difference() int64 { return Verdict(d).Difference() }

// OtherAccount is the account a wrong_account refund credited instead of
// the one charged (FreelancerID); 0 for every other kind.
func (d Discrepancy) OtherAccount() int64 {
	if d.State == WrongAccount {
		return d.RefundedTo
	}
	return 0
}

// discrepancyJSON is a discrepancy's shape in the run report and the plan
// file.
type discrepancyJSON struct {
	ProposalID   int64     `json:"proposal_id"`
	Component    Component `json:"component"`
	Kind         State     `json:"kind"`
	FreelancerID int64     `json:"freelancer_id"`
	JobID        int64     `json:"job_id"`
	Rule         Rule      `json:"rule,omitempty"`
	Charged      int64     `json:"charged"`
	Refunded     int64     `json:"refunded"`
	RefundedTo   int64     `json:"refunded_to,omitempty"` // OtherAccount
}

func (d Discrepancy) wire() discrepancyJSON {
	return discrepancyJSON{ProposalID: d.ProposalID, Component: d.Component, Kind: d.State,
		FreelancerID: d.FreelancerID, JobID: d.JobID, Rule: d.Rule, Charged: d.Charged, Refunded: d.Refunded,
		RefundedTo: d.OtherAccount()}
}

// MarshalJSON writes the discrepancy as the run report and plan file show it.
func (d Discrepancy) MarshalJSON() ([]byte, error) { return json.Marshal(d.wire()) }

// UnmarshalJSON reads what MarshalJSON writes.
func (d *Discrepancy) UnmarshalJSON(b []byte) error {
	var w discrepancyJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*d = Discrepancy{ProposalID: w.ProposalID, Component: w.Component, State: w.Kind, FreelancerID: w.FreelancerID,
		JobID: w.JobID, Rule: w.Rule, Charged: w.Charged, Refunded: w.Refunded, RefundedTo: w.RefundedTo}
	return nil
}

// Plan is what a run found: the refunds to write, the owed refunds still
// inside the settle delay, and the discrepancies, at one moment of the
// database's clock. Its totals are kept as verdicts are added; the verdicts
// themselves are spooled (memory, then an unlinked temporary file), so a plan
// of any size costs flat memory. Verdicts are added, and read back, in
// proposal, component order. Close frees the spool.
type Plan struct {
	AsOf         time.Time
	SettleCutoff time.Time
	Policy       Policy
	// Scope is "full" or "incremental"; Shard is "I/N" or "".
	Scope string
	Shard string
	// PlannedOn is where the plan read the marketplace: OnPrimary or
	// OnReplica; ReplicaLag is how far the replica was behind then. With a
	// replica, SettleCutoff is no later than what it had replayed.
	PlannedOn  string
	ReplicaLag time.Duration
	// ReplayedUntil, when set, is how far the replica the plan read had
	// replayed: the commit time of the last transaction it applied. What the
	// primary committed later may be missing from the plan, so the plan can
	// tell what it found, not what is no longer there. Nil when the plan read
	// everything committed before AsOf (on the primary, or a caught-up
	// replica).
	ReplayedUntil *time.Time
	// MatchFrom is where the refund entries an applying run matches start
	// (created at or after it, before SettleCutoff, not matched yet): an
	// incremental run's earliest event window; zero for a full sweep, which
	// matches every entry of the history no run matched.
	MatchFrom time.Time

	totals                          Totals
	byState                         map[State]StateTotal
	oldestPending                   *time.Time
	oldestOwed                      *time.Time
	refunds, pending, discrepancies spool
	matches                         spool   // verdicts with a MatchEntryID
	events                          []Event // what the run's slices were found by
	lookback                        time.Duration
}

// Complete says the plan read everything the primary had committed when the
// run started (AsOf): only such a plan may conclude that something is no
// longer there (a full sweep closing the exceptions it did not find).
func (p *Plan) Complete() bool { return p.ReplayedUntil == nil }

// SeenAt is the time what the plan found is known to have been so: AsOf, or
// what a lagging replica had replayed when earlier. Exceptions record their
// sightings at this time, so a stale view neither reopens what a later, whole
// view closed nor moves a sighting forward.
func (p *Plan) SeenAt() time.Time {
	if p.ReplayedUntil != nil && p.ReplayedUntil.Before(p.AsOf) {
		return *p.ReplayedUntil
	}
	return p.AsOf
}

// Lookback is how far before a watermark rows may still appear: the run's
// lookback.
func (p *Plan) Lookback() time.Duration { return p.lookback }

// Events counts the events (job closures, auction ends) the plan was made
// for: new ones for an incremental run, the last lookback's for a full one.
func (p *Plan) Events() int { return len(p.events) }

// ErrOutOfOrder means verdicts were added out of proposal, component order.
var ErrOutOfOrder = errors.New("verdicts out of proposal, component order")

// Add files one verdict in the plan. Verdicts of each class must come in
// proposal, component order, each component once.
func (p *Plan) Add(f Verdict) error {
	if f.MatchEntryID != 0 {
		if err := p.matches.add(f); err != nil {
			return err
		}
		if f.State == "" {
			return nil // nothing else to say about it
		}
	}
	p.totals.init()
	p.countState(f)
	switch f.State {
	case MissingRefund:
		p.totals.addRefund(f.Rule, f.Component, f.Charged)
		p.oldestOwed = earliest(p.oldestOwed, f.EventAt)
		return p.refunds.add(f)
	case PendingRefund:
		p.totals.Pending++
		p.oldestPending = earliest(p.oldestPending, f.EventAt)
		p.oldestOwed = earliest(p.oldestOwed, f.EventAt)
		return p.pending.add(f)
	default:
		p.totals.Discrepancies++
		p.totals.DiscrepanciesByKind[f.State]++
		return p.discrepancies.add(f)
	}
}

// countState adds f to its state's total.
func (p *Plan) countState(f Verdict) {
	if p.byState == nil {
		p.byState = map[State]StateTotal{}
	}
	t := p.byState[f.State]
	t.Count++
	switch f.State {
	case MissingRefund, PendingRefund:
		t.Connects += f.Charged
		t.OldestEventAt = earliest(t.OldestEventAt, f.EventAt)
	default:
		t.Connects += f.Difference()
	}
	p.byState[f.State] = t
}

// StateTotals are the plan's totals per state: the owed refunds missing and
// pending, and each kind of discrepancy.
func (p *Plan) StateTotals() map[State]StateTotal { return maps.Clone(p.byState) }

// earliest returns the earlier of a and b, nil counting as later than any time.
func earliest(a, b *time.Time) *time.Time {
	if b == nil || (a != nil && !b.Before(*a)) {
		return a
	}
	t := *b
	return &t
}

// Close frees the plan's spool; the plan is empty afterwards.
func (p *Plan) Close() {
	p.refunds.close()
	p.pending.close()
	p.discrepancies.close()
	p.matches.close()
}

// EachRefund calls fn for every refund to write, in order.
func (p *Plan) EachRefund(fn func(Refund) error) error {
	return p.refunds.each(func(v Verdict) error { return fn(Refund(v)) })
}

// EachPending calls fn for every owed refund still inside the settle delay,
// in order; none is ever written by this plan.
func (p *Plan) EachPending(fn func(Refund) error) error {
	return p.pending.each(func(v Verdict) error { return fn(Refund(v)) })
}

// EachDiscrepancy calls fn for every discrepancy, in order.
func (p *Plan) EachDiscrepancy(fn func(Discrepancy) error) error {
	return p.discrepancies.each(func(v Verdict) error { return fn(Discrepancy(v)) })
}

// EachMatch calls fn for every verdict whose refund entry (MatchEntryID,
// crediting RefundedTo with Refunded Connects) the run is to match, in order.
func (p *Plan) EachMatch(fn func(Verdict) error) error { return p.matches.each(fn) }

// Matches counts the refund entries the plan found to match.
func (p *Plan) Matches() int64 { return p.matches.len() }

// Refunds reads every refund to write into memory: for tests and for plans
// known to be small.
func (p *Plan) Refunds() ([]Refund, error) { return collect(p.EachRefund) }

// Discrepancies reads every discrepancy into memory.
func (p *Plan) Discrepancies() ([]Discrepancy, error) { return collect(p.EachDiscrepancy) }

func collect[T any](each func(func(T) error) error) ([]T, error) {
	var out []T
	err := each(func(t T) error { out = append(out, t); return nil })
	return out, err
}

// OldestPending is the earliest event among pending refunds, or nil.
func (p *Plan) OldestPending() *time.Time { return p.oldestPending }

// Amount is a count of refunds and the Connects they return.
type Amount struct {
	Refunds  int64 `json:"refunds"`
	Connects int64 `json:"connects"`
}

// Totals summarise a set of refunds and discrepancies.
type Totals struct {
	Refunds             int64                `json:"refunds"`
	Connects            int64                `json:"connects"`
	ByRule              map[Rule]Amount      `json:"by_rule"`
	ByComponent         map[Component]Amount `json:"by_component"`
	Discrepancies       int64                `json:"discrepancies"`
	DiscrepanciesByKind map[State]int64      `json:"discrepancies_by_kind"`
	Pending             int64                `json:"pending"`

	byRuleComponent map[ruleComponent]Amount // not in the JSON shape
}

type ruleComponent struct {
	rule      Rule
	component Component
}

// ByRuleComponent is the refunds counted under one rule and component.
func (t Totals) ByRuleComponent(r Rule, c Component) Amount {
	return t.byRuleComponent[ruleComponent{r, c}]
}

// init makes the maps of a zero Totals.
func (t *Totals) init() {
	if t.ByRule == nil {
		t.ByRule = map[Rule]Amount{}
		t.ByComponent = map[Component]Amount{}
		t.DiscrepanciesByKind = map[State]int64{}
	}
	if t.byRuleComponent == nil {
		t.byRuleComponent = map[ruleComponent]Amount{}
	}
}

// addRefund counts one refund.
func (t *Totals) addRefund(rule Rule, c Component, connects int64) {
	t.init()
	t.Refunds++
	t.Connects += connects
	a := t.ByRule[rule]
	a.Refunds++
	a.Connects += connects
	t.ByRule[rule] = a
	b := t.ByComponent[c]
	b.Refunds++
	b.Connects += connects
	t.ByComponent[c] = b
	k := ruleComponent{rule, c}
	rc := t.byRuleComponent[k]
	rc.Refunds++
	rc.Connects += connects
	t.byRuleComponent[k] = rc
}

// OldestOwed is the earliest event among refunds owed but not in the ledger
// when the plan was made (planned or still inside the settle delay), or nil.
func (p *Plan) OldestOwed() *time.Time { return p.oldestOwed }

// Totals summarises the plan.
func (p *Plan) Totals() Totals {
	t := p.totals
	t.init()
	// a copy: the caller may not change the plan's running totals
	t.ByRule, t.ByComponent, t.DiscrepanciesByKind = maps.Clone(t.ByRule), maps.Clone(t.ByComponent), maps.Clone(t.DiscrepanciesByKind)
	t.byRuleComponent = maps.Clone(t.byRuleComponent)
	return t
}

func lessPC(p1 int64, c1 Component, p2 int64, c2 Component) bool {
	if p1 != p2 {
		return p1 < p2
	}
	return c1 < c2
}
