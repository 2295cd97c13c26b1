package reconcile

import "strings"

// State is where one proposal component stands: what the policy concludes
// about it and what the ledger holds. One spelling per state, everywhere: the
// policy fragment's class column (sql/queries/policy.sql), the plan, the run
// report and its totals, plan files, the exceptions (reconciler_exceptions
// kind), the finance exports and report, explain's status and the metrics'
// kind label.
type State string

// What is owed and not in the ledger: the plan's refunds and pending refunds.
const (
	// MissingRefund is owed, settled and not in the ledger: a run writes it.
	MissingRefund State = "missing_refund"
	// PendingRefund is owed and not in the ledger, but its event is inside
	// the settle delay: the online path may still write it.
	PendingRefund State = "pending_refund"
)

// Where nothing is left to do; only explain reports these (the policy
// reports no row for them).
const (
	// Refunded is owed and refunded in full, to the account charged.
	Refunded State = "refunded"
	// NotOwed is nothing owed and nothing refunded.
	NotOwed State = "not_owed"
)

// Discrepancies: what the job reports but never changes.
const (
	// UnexpectedRefund is a refund that no rule entitles.
	UnexpectedRefund State = "unexpected_refund"
	// WrongAccount is a refund credited to another account than the one
	// charged for the component, whatever its amount.
	WrongAccount State = "wrong_account"
	// AmountMismatch is a refund whose amount differs from what was charged.
	AmountMismatch State = "amount_mismatch"
	// MissingBalance is an owed refund whose account has no balance row: the
	// job cannot keep the balance equal to the ledger sum, so it writes nothing.
	MissingBalance State = "missing_balance"
)

// Defects: hostile or broken data the component depends on, also
// discrepancies. The job neither refunds nor judges such a component; it
// reports it (see sql/queries/policy.sql).
const (
	UnknownProposal        State = "unknown_proposal"
	UnknownJob             State = "unknown_job"
	InvalidJobState        State = "invalid_job_state"
	FutureTimestamp        State = "future_timestamp"
	PositiveFee            State = "positive_fee"
	MixedAccounts          State = "mixed_accounts"
	RefundWithoutComponent State = "refund_without_component"
	OutbidWithoutTime      State = "outbid_without_time"
	InvalidBidOutcome      State = "invalid_bid_outcome"
)

// DiscrepancyStates lists the discrepancies, the contract's first (in their
// order of precedence), then missing_balance, then the defects: the subset of
// States a plan reports as discrepancies, exceptions are kept for, and the
// discrepancy gauge is labelled with.
var DiscrepancyStates = []State{UnexpectedRefund, WrongAccount, AmountMismatch, MissingBalance,
	UnknownProposal, UnknownJob, InvalidJobState, FutureTimestamp, PositiveFee, MixedAccounts,
	RefundWithoutComponent, OutbidWithoutTime, InvalidBidOutcome}

// States lists every state: the owed refunds missing and pending, then the
// discrepancies in their order, then refunded and not owed.
var States = append(append([]State{MissingRefund, PendingRefund}, DiscrepancyStates...), Refunded, NotOwed)

// Discrepancy reports whether s is one of DiscrepancyStates: something a
// person must decide about.
func (s State) Discrepancy() bool {
	for _, x := range DiscrepancyStates {
		if x == s {
			return true
		}
	}
	return false
}

// JoinStates spells states as a comma-separated list, for messages.
func JoinStates(states []State) string {
	names := make([]string, len(states))
	for i, s := range states {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}
