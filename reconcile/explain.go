package reconcile

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// ProposalFacts are what the policy looks at for one proposal, with the
// policy's decision per component and the proposal's ledger entries: what
// support needs to answer "where are my Connects?".
type ProposalFacts struct {
	ProposalID        int64      `json:"proposal_id"`
	JobID             int64      `json:"job_id"`
	FreelancerID      int64      `json:"freelancer_id"`
	SubmittedAt       time.Time  `json:"submitted_at"`
	WithdrawnAt       *time.Time `json:"withdrawn_at"`
	JobStatus         string     `json:"job_status"`
	CloseReason       string     `json:"close_reason"`
	ClosedAt          *time.Time `json:"closed_at"`
	HasAuction        bool       `json:"has_auction"`
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
	f.SubmittedAt = f.SubmittedAt.UTC()
	for _, t := range []**time.Time{&f.WithdrawnAt, &f.ClosedAt, &f.AuctionEndedAt, &f.OutbidAt, &f.FirstEligibleAt, &f.FirstDeclinedAt} {
		*t = UTC(*t)
	}
}

// ComponentFacts are one component's charge and refunds, and the policy's
// decision about it, as the policy fragment computed them.
type ComponentFacts struct {
	Component Component
	Charged   int64 // charged(P, C); 0 when nothing was
	HasRefund bool  // a refund entry exists
	Refunded  int64 // the refund entries' sum
	Account   int64 // the account charged
	// Rule is the first rule entitling the component, or "" (the policy's).
	Rule Rule
	// Owed is the policy's verdict: a rule entitles it and something was
	// charged.
	Owed bool
	// State is the policy's class (missing_refund, pending_refund, a
	// discrepancy), "" for nothing to do.
	State State
	// EventAt is when the entitling event happened.
	EventAt *time.Time
	// Reason is the policy's reason code: the rule that entitles the
	// component, or the exclusion that decided it (Reason* constants).
	Reason string
	// ReasonAlso is, for a boost, the other rule's exclusion, or "".
	ReasonAlso string
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

// Exclusion reasons: why the policy owes nothing for a component.
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
	// Reason is the rule when owed, else the exclusion (Reason* constants).
	Reason string `json:"reason"`
	// Why says it in words, with the times that decided it.
	Why string `json:"why"`
	// Status is where the component stands (a State), Outcome in words.
	Status    State      `json:"status"`
	Outcome   string     `json:"outcome"`
	EventAt   *time.Time `json:"event_at,omitempty"`
	SettlesAt *time.Time `json:"settles_at,omitempty"`
}

// Explain words the facts of one proposal under policy p. The verdict (owed
// or not, the rule) and the reason code are the policy fragment's, taken as
// is from the facts; only the words are chosen here, quoting the times that
// decided.
func Explain(f ProposalFacts, p Policy) Explanation {
	e := Explanation{ProposalFacts: f}
	for _, c := range f.Components {
		x := ComponentExplanation{Component: c.Component, Charged: c.Charged, Refunded: c.Refunded,
			Account: c.Account, Owed: c.Owed, EventAt: c.EventAt}
		if c.State == WrongAccount {
			x.RefundedTo = c.RefundedTo
		}
		if c.Owed {
			x.Rule = c.Rule
			x.Reason = string(c.Rule)
			x.Why = ruleWhy(f, c, p)
		} else {
			x.Reason = c.Reason
			if x.Reason == "" {
				x.Reason = ReasonNothingCharged // no decision row: no fee, no refund
			}
			// Which rule an exclusion is about: the bid's (rule 3) codes, and
			// for a boost whose job's close no rule covers, the rule_off of
			// boost_outbid; the other code of a boost is the other side's.
			bid := c.Component == Boost && (isBidReason(x.Reason) || x.Reason == ReasonRuleOff && !closeCovered(f))
			x.Why = exclusionWhy(x.Reason, bid, f, c, p)
			if c.ReasonAlso != "" {
				other := "boost_outbid does not apply: "
				if bid {
					other = "the job's close gives no boost refund: "
				}
				x.Why += "; and " + other + exclusionWhy(c.ReasonAlso, !bid, f, c, p)
			}
		}
		x.Status, x.Outcome = status(c, p)
		if x.Status == PendingRefund && c.EventAt != nil {
			t := c.EventAt.Add(p.SettleDelay)
			x.SettlesAt = &t
			x.Outcome = fmt.Sprintf("not refunded yet: the event at %s is inside the %s settle delay (the online path refunds at the event; the job writes it after %s if still missing)",
				ts(c.EventAt), p.SettleDelay, ts(&t))
		}
		e.Components = append(e.Components, x)
	}
	return e
}

func status(c ComponentFacts, p Policy) (State, string) {
	switch {
	case c.State == PendingRefund:
		return PendingRefund, "not refunded yet: inside the settle delay"
	case c.State == MissingRefund:
		return MissingRefund, "NOT REFUNDED: owed and missing from the ledger; the next run writes it"
	case c.State == MissingBalance:
		return MissingBalance, "NOT REFUNDED: the account has no connects_balances row, so the job cannot credit it; reported to finance"
	case c.State == UnexpectedRefund:
		return UnexpectedRefund, fmt.Sprintf("refunded %d Connects although nothing is owed: unexpected_refund, reported to finance, never reversed by the job", c.Refunded)
	case c.State == WrongAccount:
		return WrongAccount, fmt.Sprintf("NOT REFUNDED TO THE ACCOUNT CHARGED: a refund of %d Connects went to account %d, but account %d was charged: wrong_account, reported to finance for a person to correct (the job never moves or reverses an entry)",
			c.Refunded, c.RefundedTo, c.Account)
	case c.State == AmountMismatch:
		return AmountMismatch, fmt.Sprintf("refunded %d Connects for a charge of %d: amount_mismatch, reported to finance, never changed by the job", c.Refunded, c.Charged)
	case c.Owed && c.HasRefund:
		return Refunded, fmt.Sprintf("refunded %d Connects", c.Refunded)
	case c.Owed:
		return c.State, "owed"
	default:
		return NotOwed, "nothing to refund"
	}
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

func interactionKind(f ProposalFacts) string {
	return fmt.Sprintf("the client's first eligible interaction (%s)", f.FirstEligibleKind)
}

// ruleWhy words why a rule entitles the component.
func ruleWhy(f ProposalFacts, c ComponentFacts, p Policy) string {
	kept := "the proposal was not withdrawn before"
	if f.WithdrawnAt != nil && f.ClosedAt != nil && f.WithdrawnAt.Equal(*f.ClosedAt) {
		kept = "the proposal was withdrawn at the same moment, which is not before"
	} else if f.WithdrawnAt != nil {
		w, _ := pair(f.WithdrawnAt, f.ClosedAt)
		kept = "the proposal was withdrawn only afterwards, at " + w
	}
	switch c.Rule {
	case RuleTOSRemoved:
		closed, _ := pair(f.ClosedAt, f.WithdrawnAt)
		s := fmt.Sprintf("the job was removed for a Terms of Service violation at %s and %s", closed, kept)
		if c.Component == Boost {
			s += "; tos_removed refunds the boost too"
		}
		return s
	case RuleClosedWithoutHire:
		not := "nor declined before it"
		if p.RefundDeclined {
			not = "(refund_declined is on)"
		}
		closed, _ := pair(f.ClosedAt, f.WithdrawnAt)
		s := fmt.Sprintf("the job was closed without a hire at %s and %s, %s", closed, kept, not)
		if c.Component == Boost {
			s += "; the client did not interact with it before the close, so the boost is refunded too"
		}
		return s
	case RuleBoostOutbid:
		return fmt.Sprintf("the boost was outbid at %s with no eligible interaction at or before it, and the auction ended at %s",
			ts(f.OutbidAt), ts(f.AuctionEndedAt))
	}
	return fmt.Sprintf("rule %s of the policy in force", c.Rule)
}

func isBidReason(code string) bool {
	switch code {
	case ReasonNotBoosted, ReasonAuctionRunning, ReasonBidWon, ReasonBidUndecided, ReasonInteractionBeforeKO:
		return true
	}
	return false
}

// closeCovered tells whether the job's close is one rules 1 and 2 cover.
func closeCovered(f ProposalFacts) bool {
	return f.ClosedAt != nil && (f.JobStatus == "removed" && f.CloseReason == "tos_violation" ||
		f.JobStatus == "closed" && f.CloseReason == "no_hire")
}

// exclusionWhy words an exclusion code of the policy: why nothing is owed;
// bid says the code is about rule 3 (boost_outbid).
func exclusionWhy(code string, bid bool, f ProposalFacts, c ComponentFacts, p Policy) string {
	closed := ts(f.ClosedAt)
	switch code {
	case ReasonNothingCharged:
		if c.Component == Base {
			return "no proposal fee was charged (answering an invitation costs nothing), so there is nothing to refund"
		}
		return "no boost fee was charged (not boosted, or a placebo auction), so there is nothing to refund"
	case ReasonOpenJob:
		return "the job is open: nothing is owed while a job is open, however long it has been idle (a reopened job is open again)"
	case ReasonHired:
		return fmt.Sprintf("the job was closed with a hire at %s: no rule refunds the proposals of a hired job", closed)
	case ReasonExpired:
		return fmt.Sprintf("the job post expired at %s: no rule refunds the proposals of an expired job", closed)
	case ReasonInactivity:
		return fmt.Sprintf("the platform closed the job for inactivity at %s: no rule refunds those", closed)
	case ReasonWithdrawn:
		event := "the job was closed"
		if f.JobStatus == "removed" {
			event = "the job was removed"
		}
		return earlier("the proposal was withdrawn", f.WithdrawnAt, "before", event, f.ClosedAt)
	case ReasonDeclined:
		return earlier("the client declined the proposal", f.FirstDeclinedAt, "before", "closing the job without a hire", f.ClosedAt) +
			" (refund_declined is off)"
	case ReasonInteractionBeforeEnd:
		return earlier(interactionKind(f), f.FirstEligibleAt, "before", "closing the job", f.ClosedAt) + ", so the boost is kept"
	case ReasonInteractionBeforeKO:
		return earlier(interactionKind(f), f.FirstEligibleAt, "at or before", "the boost was outbid", f.OutbidAt) +
			", so the boost is kept"
	case ReasonRuleOff:
		switch {
		case bid:
			return "rule boost_outbid is off in the policy in force"
		case f.JobStatus == "removed" && !p.TOSRemoved:
			return fmt.Sprintf("the job was removed for a ToS violation at %s, but rule tos_removed is off in the policy in force", closed)
		case f.JobStatus == "removed":
			return "tos_removed_boost is off: rule tos_removed does not refund boosts in the policy in force"
		case !p.ClosedWithoutHire:
			return fmt.Sprintf("the job was closed without a hire at %s, but rule closed_without_hire is off in the policy in force", closed)
		default:
			return "closed_without_hire_boost is off: rule closed_without_hire does not refund boosts in the policy in force"
		}
	case ReasonNotBoosted:
		return "the proposal has no boost bid"
	case ReasonAuctionRunning:
		return "the boost auction is still running: a boost is refunded only after its auction has ended"
	case ReasonBidWon:
		return fmt.Sprintf("the boost won its auction (ended at %s): it got what it paid for", ts(f.AuctionEndedAt))
	case ReasonBidUndecided:
		return fmt.Sprintf("the auction ended at %s but the bid's outcome was never decided (%q)", ts(f.AuctionEndedAt), f.BidOutcome)
	case ReasonNoRule:
		if f.JobStatus != "open" && f.JobStatus != "" {
			reason := f.CloseReason
			if reason == "" {
				reason = "no close reason"
			}
			return fmt.Sprintf("the job is %s (%s): no rule of the policy in force covers that", f.JobStatus, reason)
		}
		return "no rule of the policy in force entitles it"
	}
	return fmt.Sprintf("the policy's reason %q", code)
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
	fmt.Fprintf(&b, "Proposal %d by freelancer %d on job %d (%s)\n", e.ProposalID, e.FreelancerID, e.JobID, job)
	w := "not withdrawn"
	if e.WithdrawnAt != nil {
		w = "withdrawn at " + ts(e.WithdrawnAt)
	}
	fmt.Fprintf(&b, "  submitted %s, %s\n", ts(&e.SubmittedAt), w)
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
		if c.Owed {
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

// ExplainStore is what explaining proposals needs from storage.
type ExplainStore interface {
	// Clock reads the database's clock.
	Clock(ctx context.Context) (time.Time, error)
	// ProposalFacts returns the facts and the policy's verdicts of the
	// proposals that exist among ids, in id order.
	ProposalFacts(ctx context.Context, p Policy, cutoff time.Time, ids []int64) ([]ProposalFacts, error)
}

// Explained is explain's answer: the proposals asked about, in the order
// asked, each explained under one policy at one moment of the database's
// clock.
type Explained struct {
	AsOf         time.Time     `json:"as_of"`
	SettleCutoff time.Time     `json:"settle_cutoff"`
	Policy       Policy        `json:"policy"`
	Proposals    []Explanation `json:"proposals"`
	// Heading, when set, is a line the text shows after the clock's.
	Heading string `json:"-"`
}

// ExplainProposals explains the proposals ids (those that exist) under
// policy p, as of the database's clock now.
func ExplainProposals(ctx context.Context, s ExplainStore, p Policy, ids []int64) (*Explained, error) {
	now, err := s.Clock(ctx)
	if err != nil {
		return nil, err
	}
	cutoff := now.Add(-p.SettleDelay)
	facts, err := s.ProposalFacts(ctx, p, cutoff, ids)
	if err != nil {
		return nil, err
	}
	byID := map[int64]ProposalFacts{}
	for _, f := range facts {
		byID[f.ProposalID] = f
	}
	out := &Explained{AsOf: now, SettleCutoff: cutoff, Policy: p, Proposals: []Explanation{}}
	for _, id := range ids { // the order asked (newest first for a freelancer)
		if f, ok := byID[id]; ok {
			out.Proposals = append(out.Proposals, Explain(f, p))
		}
	}
	return out, nil
}

// WriteText writes the explanations for a person.
func (e *Explained) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "As of %s (database clock). Events before %s are settled (settle delay %s).\n",
		e.AsOf.Format(time.RFC3339), e.SettleCutoff.Format(time.RFC3339), e.Policy.SettleDelay)
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
