package reconcile

import (
	"strings"
	"testing"
	"time"
)

// Times compared in one sentence are written at the precision that decides
// their order: to the microsecond when they fall in the same second, and
// "at the same moment as" when they are equal. The verdicts are the
// policy's (the reason codes given here); only the words are checked.
func TestExplainBoundaryWording(t *testing.T) {
	t.Parallel()
	closed := time.Date(2026, 11, 30, 14, 16, 37, 500000000, time.UTC)
	justBefore := closed.Add(-time.Microsecond)
	facts := func(withdrawn time.Time) ProposalFacts {
		return ProposalFacts{ProposalID: 10, JobID: 1, FreelancerID: 36, JobStatus: "closed", CloseReason: "no_hire",
			ClosedAt: &closed, WithdrawnAt: &withdrawn}
	}
	p := DefaultPolicy()

	// Withdrawn one microsecond before the close: not owed, and the words
	// must not read "14:16:37Z, before ... 14:16:37Z".
	f := facts(justBefore)
	f.Components = []ComponentFacts{{Component: Base, Charged: 4, Account: 36, Reason: ReasonWithdrawn}}
	why := Explain(f, p).Components[0].Why
	for _, want := range []string{"withdrawn at 2026-11-30T14:16:37.499999Z", "before the job was closed at 2026-11-30T14:16:37.500000Z"} {
		if !strings.Contains(why, want) {
			t.Errorf("withdrawn 1µs before the close: %q lacks %q", why, want)
		}
	}

	// Withdrawn at the very moment of the close: "not before", so owed.
	f = facts(closed)
	f.Components = []ComponentFacts{{Component: Base, Charged: 4, Account: 36, Owed: true, Rule: RuleClosedWithoutHire,
		Reason: string(RuleClosedWithoutHire), State: MissingRefund}}
	why = Explain(f, p).Components[0].Why
	if !strings.Contains(why, "withdrawn at the same moment, which is not before") {
		t.Errorf("withdrawn at the close: %q does not say it is the same moment", why)
	}

	// An interaction at the knock-out itself keeps the boost.
	ko := closed.Add(-time.Hour)
	f = ProposalFacts{ProposalID: 11, JobStatus: "closed", CloseReason: "hired", ClosedAt: &closed, HasBid: true,
		AuctionEndedAt: &closed, BidOutcome: "outbid", OutbidAt: &ko, FirstEligibleAt: &ko, FirstEligibleKind: "opened",
		Components: []ComponentFacts{{Component: Boost, Charged: 9, Reason: ReasonInteractionBeforeKO, ReasonAlso: ReasonHired}}}
	why = Explain(f, p).Components[0].Why
	if !strings.Contains(why, "(opened) at the same moment as the boost was outbid (2026-11-30T13:16:37Z)") {
		t.Errorf("interaction at the knock-out: %q", why)
	}
	if !strings.Contains(why, "the job's close gives no boost refund") {
		t.Errorf("the other rule's exclusion is not worded: %q", why)
	}

	// A refund to another account than the one charged is not "refunded".
	f = facts(closed.Add(time.Hour))
	f.Components = []ComponentFacts{{Component: Base, Charged: 14, Account: 36, Owed: true, Rule: RuleClosedWithoutHire,
		HasRefund: true, Refunded: 14, RefundedTo: 1, State: WrongAccount, Reason: string(RuleClosedWithoutHire)}}
	x := Explain(f, p).Components[0]
	if x.Status != WrongAccount || x.RefundedTo != 1 || !strings.Contains(x.Outcome, "went to account 1, but account 36 was charged") {
		t.Errorf("wrong account: status %s, refunded_to %d, outcome %q", x.Status, x.RefundedTo, x.Outcome)
	}
}
