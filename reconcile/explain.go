package reconcile

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// ProposalFacts are what the policy saw of one proposal, with the policy's
// decision per component and the proposal's ledger entries: what support
// needs to answer "where are my Connects?". Every fact but the proposal's own
// row (job, freelancer, submitted_at, withdrawn_at) is the policy fragment's
// (policy.sql), as it decided.
type ProposalFacts struct {
	ProposalID int64 `json:"proposal_id"`
	// Exists says the proposal is in proposals; ledger entries may carry
	// the id of one that is not (unknown_proposal).
	Exists            bool       `json:"exists"`
	JobID             int64      `json:"job_id"`
	FreelancerID      int64      `json:"freelancer_id"`
	SubmittedAt       *time.Time `json:"submitted_at"`
	WithdrawnAt       *time.Time `json:"withdrawn_at"`
	JobStatus         string     `json:"job_status"`
	CloseReason       string     `json:"close_reason"`
	ClosedAt          *time.Time `json:"closed_at"`
	AuctionEndedAt    *time.Time `json:"auction_ended_at"`
	HasBid            bool       `json:"has_bid"`
	BidOutcome        string     `json:"bid_outcome"`
	OutbidAt          *time.Time `json:"outbid_at"`
	FirstEligibleAt   *time.Time `json:"first_eligible_interaction_at"`
	FirstEligibleKind string     `json:"first_eligible_interaction"`
	FirstDeclinedAt   *time.Time `json:"first_declined_at"`
	// Components are base and boost, in that order, with the policy's
	// decision for each.
	Components []ComponentFacts `json:"-"`
	// Ledger holds every ledger entry carrying the proposal's id.
	Ledger []LedgerEntry `json:"ledger"`
}

// UTC puts every time of the facts in UTC.
func (f *ProposalFacts) UTC() {
	for _, t := range []**time.Time{&f.SubmittedAt, &f.WithdrawnAt, &f.ClosedAt, &f.AuctionEndedAt, &f.OutbidAt, &f.FirstEligibleAt, &f.FirstDeclinedAt} {
		*t = UTC(*t)
	}
	for i := range f.Components {
		f.Components[i].EventAt = UTC(f.Components[i].EventAt)
	}
}

// ComponentFacts are one component's charge and refunds, and the policy's
// decision about it, as the policy fragment computed them: nothing here is
// derived in Go. A component the fragment has no row for (no fee, no
// refund) has Reason nothing_charged and State not_owed.
type ComponentFacts struct {
	Component Component
	Charged   int64 // charged(P, C); 0 when nothing was
	HasRefund bool  // a refund entry exists
	Refunded  int64 // the refund entries' sum
	Account   int64 // the account charged
	// Rule is the first rule entitling the component, or "" (the policy's).
	Rule Rule
	// Owed is the policy's verdict: a rule entitles it, something was
	// charged and the data is sound.
	Owed bool
	// State is where the component stands (the fragment's state: its class,
	// or refunded, or not_owed).
	State State
	// Defect is the defect kind when the data is broken, or "".
	Defect State
	// EventAt is when the entitling event happened.
	EventAt *time.Time
	// Reason is the policy's reason code: the rule that entitles the
	// component, the exclusion that decided it, or the defect.
	Reason string
	// ReasonAlso is, for a boost, the other rule's exclusion, or "".
	ReasonAlso string
	// Toggle and ToggleAlso name the setting that decided Reason and
	// ReasonAlso (a rule toggle that was off, refund_declined), or "".
	Toggle, ToggleAlso string
	// CloseCovered says the job's close is one rules 1 and 2 cover.
	CloseCovered bool
	// RefundedTo is the account an existing refund credited.
	RefundedTo int64
}

// LedgerEntry is one row of the Connects ledger.
type LedgerEntry struct {
	ID             int64     `json:"id"`
	CreatedAt      time.Time `json:"created_at"`
	FreelancerID   int64     `json:"freelancer_id"`
	Type           string    `json:"entry_type"`
	Component      string    `json:"component,omitempty"`
	Amount         int64     `json:"amount"`
	IdempotencyKey string    `json:"idempotency_key"`
	// RunID and Rule are set on refunds the job wrote.
	RunID string `json:"run_id,omitempty"`
	Rule  string `json:"rule,omitempty"`
}

// Explanation is what explain says about one proposal.
type Explanation struct {
	ProposalFacts
	Components []ComponentExplanation `json:"components"`
}

// Exclusion reasons: why the policy owes nothing for a component (codes of
// policy.sql; explain_words.go words each).
const (
	ReasonNothingCharged       = "nothing_charged"
	ReasonOpenJob              = "open_job"
	ReasonHired                = "hired"
	ReasonExpired              = "expired"
	ReasonInactivity           = "inactivity"
	ReasonWithdrawn            = "withdrawn"
	ReasonDeclined             = "declined"
	ReasonInteractionBeforeEnd = "interaction_before_close"
	ReasonInteractionBeforeKO  = "interaction_before_knockout"
	ReasonAuctionRunning       = "auction_running"
	ReasonBidWon               = "bid_won"
	ReasonBidUndecided         = "bid_undecided"
	ReasonNotBoosted           = "not_boosted"
	ReasonRuleOff              = "rule_off"
	ReasonNoRule               = "no_rule"
)

// ComponentExplanation says, for one component, what was charged, what the
// policy says and why, and where the ledger stands.
type ComponentExplanation struct {
	Component Component `json:"component"`
	Charged   int64     `json:"charged"`
	Refunded  int64     `json:"refunded"`
	Account   int64     `json:"account"`
	// RefundedTo is the account the existing refund credited, when it is
	// not the one charged (wrong_account).
	RefundedTo int64 `json:"refunded_to,omitempty"`
	// Owed and Rule are the policy's verdict (policy.sql), never recomputed.
	Owed bool `json:"owed"`
	Rule Rule `json:"rule,omitempty"`
	// Reason is the rule when owed, else the exclusion or the defect
	// (policy.sql's reason code).
	Reason string `json:"reason"`
	// Setting names the setting that decided it (a rule toggle that was
	// off, refund_declined), when one did.
	Setting string `json:"setting,omitempty"`
	// Defect is the defect kind when the data is broken.
	Defect State `json:"defect,omitempty"`
	// Why says it in words, with the times that decided it.
	Why string `json:"why"`
	// Status is where the component stands (a State), Outcome in words.
	Status    State      `json:"status"`
	Outcome   string     `json:"outcome"`
	EventAt   *time.Time `json:"event_at,omitempty"`
	SettlesAt *time.Time `json:"settles_at,omitempty"`
}

// Explain words the facts of one proposal under policy p. Every verdict,
// code and state is the policy fragment's, taken as is from the facts; only
// the words are chosen here (explain_words.go), quoting the times that
// decided.
func Explain(f ProposalFacts, p Policy) Explanation {
	e := Explanation{ProposalFacts: f}
	for _, c := range f.Components {
		if c.Reason == "" { // no row in the fragment: no fee, no refund
			c.Reason, c.State = ReasonNothingCharged, NotOwed
		}
		x := ComponentExplanation{Component: c.Component, Charged: c.Charged, Refunded: c.Refunded,
			Account: c.Account, Owed: c.Owed, Reason: c.Reason, Setting: c.Toggle, Defect: c.Defect,
			Status: c.State, EventAt: c.EventAt}
		if c.State == WrongAccount {
			x.RefundedTo = c.RefundedTo
		}
		if c.Owed {
			x.Rule = c.Rule
		}
		w := words{f: f, c: c, p: p}
		x.Why = w.why(c.Reason, c.Toggle)
		if c.ReasonAlso != "" {
			other := "boost_outbid does not apply: "
			if w.bid(c.Reason) {
				other = "the job's close gives no boost refund: "
			}
			x.Why += "; and " + other + w.why(c.ReasonAlso, c.ToggleAlso)
		}
		x.Outcome = w.outcome()
		if x.Status == PendingRefund && c.EventAt != nil {
			t := c.EventAt.Add(p.SettleDelay)
			x.SettlesAt = &t
		}
		e.Components = append(e.Components, x)
	}
	return e
}

func ts(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// pair formats two times for a sentence that compares them: to the second,
// unless they differ only within it, then to the microsecond, so the words
// never read "14:16:37Z, before 14:16:37Z".
func pair(a, b *time.Time) (string, string) {
	if a != nil && b != nil && !a.Equal(*b) && a.Truncate(time.Second).Equal(b.Truncate(time.Second)) {
		const micro = "2006-01-02T15:04:05.000000Z07:00"
		return a.UTC().Format(micro), b.UTC().Format(micro)
	}
	return ts(a), ts(b)
}

// earlier says "A at X, before B at Y" with the precision that decides, or
// "A at the same moment as B (X)" when the two are equal.
func earlier(whatA string, a *time.Time, rel, whatB string, b *time.Time) string {
	if a != nil && b != nil && a.Equal(*b) {
		return fmt.Sprintf("%s at the same moment as %s (%s)", whatA, whatB, ts(a))
	}
	sa, sb := pair(a, b)
	return fmt.Sprintf("%s at %s, %s %s at %s", whatA, sa, rel, whatB, sb)
}

// Text writes the explanation for a person.
func (e Explanation) Text() string {
	var b strings.Builder
	job := e.JobStatus
	if e.CloseReason != "" {
		job += ", " + e.CloseReason
	}
	if e.ClosedAt != nil {
		job += " at " + ts(e.ClosedAt)
	}
	switch {
	case !e.Exists:
		fmt.Fprintf(&b, "Proposal %d: no such proposal, yet ledger entries carry its id\n", e.ProposalID)
	case e.defect(UnknownJob):
		fmt.Fprintf(&b, "Proposal %d by freelancer %d on job %d (no such job)\n", e.ProposalID, e.FreelancerID, e.JobID)
	case job == "":
		fmt.Fprintf(&b, "Proposal %d by freelancer %d on job %d (nothing charged: the policy has nothing to judge)\n", e.ProposalID, e.FreelancerID, e.JobID)
	default:
		fmt.Fprintf(&b, "Proposal %d by freelancer %d on job %d (%s)\n", e.ProposalID, e.FreelancerID, e.JobID, job)
	}
	if e.Exists {
		w := "not withdrawn"
		if e.WithdrawnAt != nil {
			w = "withdrawn at " + ts(e.WithdrawnAt)
		}
		fmt.Fprintf(&b, "  submitted %s, %s\n", ts(e.SubmittedAt), w)
	}
	if e.FirstEligibleAt != nil {
		fmt.Fprintf(&b, "  first eligible interaction: %s at %s\n", e.FirstEligibleKind, ts(e.FirstEligibleAt))
	} else {
		fmt.Fprintf(&b, "  no eligible interaction\n")
	}
	if e.FirstDeclinedAt != nil {
		fmt.Fprintf(&b, "  declined at %s\n", ts(e.FirstDeclinedAt))
	}
	if e.HasBid {
		auction := "still running"
		if e.AuctionEndedAt != nil {
			auction = "ended " + ts(e.AuctionEndedAt)
		}
		outcome := e.BidOutcome
		if outcome == "" {
			outcome = "undecided"
		}
		if e.OutbidAt != nil {
			outcome += " at " + ts(e.OutbidAt)
		}
		fmt.Fprintf(&b, "  boost bid: %s (auction %s)\n", outcome, auction)
	}
	for _, c := range e.Components {
		verdict := "NOT OWED (" + c.Reason + ")"
		switch {
		case c.Defect != "":
			verdict = "NOT JUDGED (defect " + string(c.Defect) + ")"
		case c.Owed:
			verdict = "OWED under " + string(c.Rule)
		}
		fmt.Fprintf(&b, "\n  %s: charged %d Connects. Policy: %s.\n", c.Component, c.Charged, verdict)
		fmt.Fprintf(&b, "    why: %s.\n", c.Why)
		fmt.Fprintf(&b, "    ledger: %s.\n", c.Outcome)
	}
	fmt.Fprintf(&b, "\n  ledger entries (%d):\n", len(e.Ledger))
	for _, l := range e.Ledger {
		by := ""
		if l.RunID != "" {
			by = fmt.Sprintf("  (reconciler run %s, rule %s)", l.RunID, l.Rule)
		}
		fmt.Fprintf(&b, "    %-9s %s  %-12s %-5s %+6d  %s%s\n", "#"+strconv.FormatInt(l.ID, 10), ts(&l.CreatedAt), l.Type, l.Component, l.Amount, l.IdempotencyKey, by)
	}
	return b.String()
}

// defect says a component of the proposal has the defect kind.
func (e Explanation) defect(kind State) bool {
	for _, c := range e.Components {
		if c.Defect == kind {
			return true
		}
	}
	return false
}

// ExplainStore is what explaining proposals needs from storage. A store
// that is also a ReplicaStore says where it reads, and explain bounds its
// settle cutoff as a run does (Reads.SettleCutoff).
type ExplainStore interface {
	// Clock reads the database's clock.
	Clock(ctx context.Context) (time.Time, error)
	// ProposalFacts returns the facts and the policy's verdicts of the
	// proposals among ids that exist or that ledger entries name, in id
	// order.
	ProposalFacts(ctx context.Context, p Policy, cutoff time.Time, ids []int64) ([]ProposalFacts, error)
}

// Explained is explain's answer: the proposals asked about, in the order
// asked, each explained under one policy at one moment of the database's
// clock.
type Explained struct {
	AsOf time.Time `json:"as_of"`
	// SettleCutoff is the run's read bound at AsOf: the clock less the
	// settle delay, or what the replica read has replayed if earlier.
	SettleCutoff time.Time `json:"settle_cutoff"`
	// ReadOn is where the facts were read (primary or replica);
	// ReplayedUntil how far a replica had replayed.
	ReadOn        string        `json:"read_on"`
	ReplayedUntil *time.Time    `json:"replayed_until,omitempty"`
	Policy        Policy        `json:"policy"`
	Proposals     []Explanation `json:"proposals"`
	// Heading, when set, is a line the text shows after the clock's.
	Heading string `json:"-"`
}

// ExplainProposals explains the proposals ids (those that exist or that
// ledger entries name) under policy p, as of the database's clock now, with
// the settle cutoff a run reading where s reads would take.
func ExplainProposals(ctx context.Context, s ExplainStore, p Policy, ids []int64) (*Explained, error) {
	reads, err := readsOf(ctx, s)
	if err != nil {
		return nil, err
	}
	now, cutoff := reads.Now, reads.SettleCutoff(p.SettleDelay)
	facts, err := s.ProposalFacts(ctx, p, cutoff, ids)
	if err != nil {
		return nil, err
	}
	byID := map[int64]ProposalFacts{}
	for _, f := range facts {
		byID[f.ProposalID] = f
	}
	out := &Explained{AsOf: now, SettleCutoff: cutoff, ReadOn: reads.On, ReplayedUntil: UTC(reads.Until), Policy: p, Proposals: []Explanation{}}
	for _, id := range ids { // the order asked (newest first for a freelancer)
		if f, ok := byID[id]; ok {
			out.Proposals = append(out.Proposals, Explain(f, p))
		}
	}
	return out, nil
}

// WriteText writes the explanations for a person.
func (e *Explained) WriteText(w io.Writer) error {
	replica := ""
	if e.ReadOn == OnReplica && e.ReplayedUntil != nil {
		replica = fmt.Sprintf("; read on the replica, replayed up to %s", e.ReplayedUntil.Format(time.RFC3339))
	}
	fmt.Fprintf(w, "As of %s (database clock). Events before %s are settled (settle delay %s%s).\n",
		e.AsOf.Format(time.RFC3339), e.SettleCutoff.Format(time.RFC3339), e.Policy.SettleDelay, replica)
	if e.Heading != "" {
		fmt.Fprintln(w, e.Heading)
	}
	for _, x := range e.Proposals {
		if _, err := fmt.Fprintf(w, "\n%s", x.Text()); err != nil {
			return err
		}
	}
	return nil
}
