package reconcile

import "fmt"

// The wording table: explain's words for every code sql/queries/policy.sql
// emits, and nothing else. The policy decides (the rule, the reason, the
// setting that decided, the defect, the state); these tables only say it,
// quoting the times of the facts the policy saw. TestEveryPolicyCodeIsWorded
// parses the codes out of policy.sql and fails on one without words here.

// words words one component of one proposal.
type words struct {
	f ProposalFacts
	c ComponentFacts
	p Policy
}

// reasonWording words one reason code: bid says the code is about rule 3
// (boost_outbid) rather than the job's close (rules 1 and 2).
type reasonWording struct {
	bid bool
	why func(w words) string
}

// reasonWords words each reason code: the rules (the reason when owed),
// the exclusions and the defects.
var reasonWords = map[string]reasonWording{
	string(RuleTOSRemoved): {why: func(w words) string {
		closed, _ := pair(w.f.ClosedAt, w.f.WithdrawnAt)
		s := fmt.Sprintf("the job was removed for a Terms of Service violation at %s and %s", closed, w.kept())
		if w.c.Component == Boost {
			s += "; tos_removed refunds the boost too"
		}
		return s
	}},
	string(RuleClosedWithoutHire): {why: func(w words) string {
		not := "nor declined before it"
		if w.c.Toggle != "" {
			not = "and declined before it, which " + w.c.Toggle + " (on) allows"
		}
		closed, _ := pair(w.f.ClosedAt, w.f.WithdrawnAt)
		s := fmt.Sprintf("the job was closed without a hire at %s and %s, %s", closed, w.kept(), not)
		if w.c.Component == Boost {
			s += "; the client did not interact with it before the close, so the boost is refunded too"
		}
		return s
	}},
	string(RuleBoostOutbid): {bid: true, why: func(w words) string {
		return fmt.Sprintf("the boost was outbid at %s with no eligible interaction at or before it, and the auction ended at %s",
			ts(w.f.OutbidAt), ts(w.f.AuctionEndedAt))
	}},

	ReasonNothingCharged: {why: func(w words) string {
		if w.c.Component == Base {
			return "no proposal fee was charged (answering an invitation costs nothing), so there is nothing to refund"
		}
		return "no boost fee was charged (not boosted, or a placebo auction), so there is nothing to refund"
	}},
	ReasonOpenJob: {why: func(words) string {
		return "the job is open: nothing is owed while a job is open, however long it has been idle (a reopened job is open again)"
	}},
	ReasonHired: {why: func(w words) string {
		return fmt.Sprintf("the job was closed with a hire at %s: no rule refunds the proposals of a hired job", ts(w.f.ClosedAt))
	}},
	ReasonExpired: {why: func(w words) string {
		return fmt.Sprintf("the job post expired at %s: no rule refunds the proposals of an expired job", ts(w.f.ClosedAt))
	}},
	ReasonInactivity: {why: func(w words) string {
		return fmt.Sprintf("the platform closed the job for inactivity at %s: no rule refunds those", ts(w.f.ClosedAt))
	}},
	ReasonWithdrawn: {why: func(w words) string {
		event := "the job was closed"
		if w.f.JobStatus == "removed" {
			event = "the job was removed"
		}
		return earlier("the proposal was withdrawn", w.f.WithdrawnAt, "before", event, w.f.ClosedAt)
	}},
	ReasonDeclined: {why: func(w words) string {
		return earlier("the client declined the proposal", w.f.FirstDeclinedAt, "before", "closing the job without a hire", w.f.ClosedAt) +
			fmt.Sprintf(" (%s is off)", w.c.Toggle)
	}},
	ReasonInteractionBeforeEnd: {why: func(w words) string {
		return earlier(w.interaction(), w.f.FirstEligibleAt, "before", "closing the job", w.f.ClosedAt) + ", so the boost is kept"
	}},
	ReasonInteractionBeforeKO: {bid: true, why: func(w words) string {
		return earlier(w.interaction(), w.f.FirstEligibleAt, "at or before", "the boost was outbid", w.f.OutbidAt) + ", so the boost is kept"
	}},
	ReasonRuleOff: {why: func(w words) string {
		// the setting that was off is the policy's (toggle); its words:
		return w.setting()
	}},
	ReasonNotBoosted: {bid: true, why: func(words) string { return "the proposal has no boost bid" }},
	ReasonAuctionRunning: {bid: true, why: func(words) string {
		return "the boost auction is still running: a boost is refunded only after its auction has ended"
	}},
	ReasonBidWon: {bid: true, why: func(w words) string {
		return fmt.Sprintf("the boost won its auction (ended at %s): it got what it paid for", ts(w.f.AuctionEndedAt))
	}},
	ReasonBidUndecided: {bid: true, why: func(w words) string {
		return fmt.Sprintf("the auction ended at %s but the bid's outcome was never decided (%q)", ts(w.f.AuctionEndedAt), w.f.BidOutcome)
	}},
	ReasonNoRule: {why: func(w words) string {
		if w.f.JobStatus != "open" && w.f.JobStatus != "" {
			reason := w.f.CloseReason
			if reason == "" {
				reason = "no close reason"
			}
			return fmt.Sprintf("the job is %s (%s): no rule of the policy in force covers that", w.f.JobStatus, reason)
		}
		return "no rule of the policy in force entitles it"
	}},

	// Defects: the data is broken, so the policy does not judge.
	string(UnknownProposal): {why: func(w words) string {
		return fmt.Sprintf("there is no proposal %d, yet ledger entries carry its id", w.f.ProposalID)
	}},
	string(UnknownJob): {why: func(w words) string {
		return fmt.Sprintf("the proposal's job %d does not exist", w.f.JobID)
	}},
	string(InvalidJobState): {why: func(w words) string {
		return fmt.Sprintf("the job's status and close reason (%s, %s, closed at %s) are not a state the contract knows (a closed or removed job needs its close time)",
			noneIfEmpty(w.f.JobStatus), noneIfEmpty(w.f.CloseReason), ts(w.f.ClosedAt))
	}},
	string(FutureTimestamp): {why: func(w words) string {
		return fmt.Sprintf("a time the policy reads is after the database's clock (job closed at %s, auction ended at %s, outbid at %s)",
			ts(w.f.ClosedAt), ts(w.f.AuctionEndedAt), ts(w.f.OutbidAt))
	}},
	string(PositiveFee): {why: func(w words) string {
		return fmt.Sprintf("a %s fee entry of the proposal has a positive amount: a fee charges, it never credits", w.c.Component)
	}},
	string(MixedAccounts): {why: func(w words) string {
		return fmt.Sprintf("the %s fee was charged to more than one account, so there is no one account to refund", w.c.Component)
	}},
	string(RefundWithoutComponent): {why: func(words) string {
		return "a refund entry carrying the proposal's id names no component (neither base nor boost)"
	}},
	string(OutbidWithoutTime): {why: func(words) string {
		return "the boost bid is marked outbid but has no outbid_at, so rule boost_outbid cannot be judged"
	}},
	string(InvalidBidOutcome): {why: func(w words) string {
		return fmt.Sprintf("the boost bid's outcome %q is neither won nor outbid", w.f.BidOutcome)
	}},
}

// settingWords words the settings policy.sql names as the one that decided
// (toggle): a rule toggle that was off, or refund_declined.
var settingWords = map[string]func(w words) string{
	"tos_removed": func(w words) string {
		return fmt.Sprintf("the job was removed for a ToS violation at %s, but rule tos_removed is off in the policy in force", ts(w.f.ClosedAt))
	},
	"tos_removed_boost": func(words) string {
		return "tos_removed_boost is off: rule tos_removed does not refund boosts in the policy in force"
	},
	"closed_without_hire": func(w words) string {
		return fmt.Sprintf("the job was closed without a hire at %s, but rule closed_without_hire is off in the policy in force", ts(w.f.ClosedAt))
	},
	"closed_without_hire_boost": func(words) string {
		return "closed_without_hire_boost is off: rule closed_without_hire does not refund boosts in the policy in force"
	},
	"refund_declined": func(words) string {
		return "refund_declined is off: rule closed_without_hire does not refund a proposal the client declined before the close"
	},
	"boost_outbid": func(words) string { return "rule boost_outbid is off in the policy in force" },
}

// stateWords words where a component stands (the policy's state).
var stateWords = map[State]func(w words) string{
	MissingRefund: func(words) string {
		return "NOT REFUNDED: owed and missing from the ledger; the next run writes it"
	},
	PendingRefund: func(w words) string {
		if w.c.EventAt == nil {
			return "not refunded yet: inside the settle delay"
		}
		t := w.c.EventAt.Add(w.p.SettleDelay)
		return fmt.Sprintf("not refunded yet: the event at %s is inside the %s settle delay (the online path refunds at the event; the job writes it after %s if still missing)",
			ts(w.c.EventAt), w.p.SettleDelay, ts(&t))
	},
	MissingBalance: func(words) string {
		return "NOT REFUNDED: the account has no connects_balances row, so the job cannot credit it; reported to finance"
	},
	UnexpectedRefund: func(w words) string {
		return fmt.Sprintf("refunded %d Connects although nothing is owed: unexpected_refund, reported to finance, never reversed by the job", w.c.Refunded)
	},
	WrongAccount: func(w words) string {
		return fmt.Sprintf("NOT REFUNDED TO THE ACCOUNT CHARGED: a refund of %d Connects went to account %d, but account %d was charged: wrong_account, reported to finance for a person to correct (the job never moves or reverses an entry)",
			w.c.Refunded, w.c.RefundedTo, w.c.Account)
	},
	AmountMismatch: func(w words) string {
		return fmt.Sprintf("refunded %d Connects for a charge of %d: amount_mismatch, reported to finance, never changed by the job", w.c.Refunded, w.c.Charged)
	},
	Refunded: func(w words) string { return fmt.Sprintf("refunded %d Connects", w.c.Refunded) },
	NotOwed:  func(words) string { return "nothing to refund" },

	UnknownProposal:        defectOutcome,
	UnknownJob:             defectOutcome,
	InvalidJobState:        defectOutcome,
	FutureTimestamp:        defectOutcome,
	PositiveFee:            defectOutcome,
	MixedAccounts:          defectOutcome,
	RefundWithoutComponent: defectOutcome,
	OutbidWithoutTime:      defectOutcome,
	InvalidBidOutcome:      defectOutcome,
}

func defectOutcome(w words) string {
	refund := "no refund entry"
	if w.c.HasRefund {
		refund = fmt.Sprintf("a refund of %d Connects", w.c.Refunded)
	}
	return fmt.Sprintf("NOT JUDGED: the data is broken (%s): reported to finance as a discrepancy; the job neither refunds nor judges this component until the data is fixed (ledger: %s)",
		w.c.State, refund)
}

// why words a reason code, with the setting that decided it.
func (w words) why(code, toggle string) string {
	w.c.Toggle = toggle
	if r, ok := reasonWords[code]; ok {
		return r.why(w)
	}
	return fmt.Sprintf("the policy's reason %q", code) // TestEveryPolicyCodeIsWorded keeps this unreachable
}

// bid says a reason code is about rule 3: a bid code, or rule_off of a
// boost whose job's close no rule covers (then the toggle off is the bid's).
func (w words) bid(code string) bool {
	if code == ReasonRuleOff {
		return w.c.Component == Boost && !w.c.CloseCovered
	}
	return w.c.Component == Boost && reasonWords[code].bid
}

// setting words the setting that decided.
func (w words) setting() string {
	if s, ok := settingWords[w.c.Toggle]; ok {
		return s(w)
	}
	return fmt.Sprintf("the setting %s is off in the policy in force", w.c.Toggle)
}

// outcome words the component's state.
func (w words) outcome() string {
	if s, ok := stateWords[w.c.State]; ok {
		return s(w)
	}
	return string(w.c.State)
}

// kept words "not withdrawn before the close" with the times that decided.
func (w words) kept() string {
	f := w.f
	if f.WithdrawnAt != nil && f.ClosedAt != nil && f.WithdrawnAt.Equal(*f.ClosedAt) {
		return "the proposal was withdrawn at the same moment, which is not before"
	} else if f.WithdrawnAt != nil {
		at, _ := pair(f.WithdrawnAt, f.ClosedAt)
		return "the proposal was withdrawn only afterwards, at " + at
	}
	return "the proposal was not withdrawn before"
}

func (w words) interaction() string {
	return fmt.Sprintf("the client's first eligible interaction (%s)", w.f.FirstEligibleKind)
}

func noneIfEmpty(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
