package reconcile

import (
	"errors"
	"fmt"
	"time"
)

// Exception states.
const (
	ExceptionOpen   = "open"
	ExceptionClosed = "closed"
)

// ExceptionKey names an exception: one discrepancy kind on one proposal
// component.
type ExceptionKey struct {
	ProposalID int64     `json:"proposal_id"`
	Component  Component `json:"component"`
	Kind       State     `json:"kind"`
}

func (k ExceptionKey) String() string {
	return fmt.Sprintf("proposal %d %s %s", k.ProposalID, k.Component, k.Kind)
}

// Exception is a discrepancy kept with a life: found by a run, refreshed by
// every run that finds it again, closed by a full sweep that no longer finds
// it, reopened when one finds it again. It is never deleted.
type Exception struct {
	ID int64
	// Verdict is the discrepancy as the last run that saw it found it: its
	// State is the exception's kind, one of DiscrepancyStates, and its
	// RefundedTo is Discrepancy.OtherAccount.
	Verdict
	// Status is ExceptionOpen or ExceptionClosed.
	Status      string
	FirstSeenAt time.Time
	FirstRunID  string
	LastSeenAt  time.Time
	LastRunID   string
	// OpenSince is FirstSeenAt, or ReopenedAt once it reopened: its age
	// counts from here.
	OpenSince     time.Time
	ClosedAt      *time.Time // the last close; kept when it reopens
	ClosedRunID   string
	ReopenedCount int64
	ReopenedAt    *time.Time
	// Ack is the latest acknowledgement, nil when none.
	Ack *Ack
}

// Key names the exception.
func (e Exception) Key() ExceptionKey {
	return ExceptionKey{ProposalID: e.ProposalID, Component: e.Component, Kind: e.State}
}

// ExceptionJSON is an exception's shape in the JSON listing, with its age at
// the listing's time.
type ExceptionJSON struct {
	ID int64 `json:"id"`
	discrepancyJSON
	State         string     `json:"state"`
	FirstSeenAt   time.Time  `json:"first_seen_at"`
	FirstRunID    string     `json:"first_run_id"`
	LastSeenAt    time.Time  `json:"last_seen_at"`
	LastRunID     string     `json:"last_run_id"`
	OpenSince     time.Time  `json:"open_since"`
	ClosedAt      *time.Time `json:"closed_at,omitempty"`
	ClosedRunID   string     `json:"closed_run_id,omitempty"`
	ReopenedCount int64      `json:"reopened_count"`
	ReopenedAt    *time.Time `json:"reopened_at,omitempty"`
	Ack           *Ack       `json:"ack,omitempty"`
	AgeSeconds    int64      `json:"age_seconds"`
	Acknowledged  bool       `json:"acknowledged"`
}

// JSON is the exception as the JSON listing shows it at now.
func (e Exception) JSON(now time.Time) ExceptionJSON {
	return ExceptionJSON{ID: e.ID, discrepancyJSON: Discrepancy(e.Verdict).wire(), State: e.Status,
		FirstSeenAt: e.FirstSeenAt, FirstRunID: e.FirstRunID, LastSeenAt: e.LastSeenAt, LastRunID: e.LastRunID,
		OpenSince: e.OpenSince, ClosedAt: e.ClosedAt, ClosedRunID: e.ClosedRunID, ReopenedCount: e.ReopenedCount,
		ReopenedAt: e.ReopenedAt, Ack: e.Ack,
		AgeSeconds: int64(e.Age(now) / time.Second), Acknowledged: e.Acknowledged()}
}

// Age is how long the exception has been open at now; for a closed one, how
// long it was open before it closed.
func (e Exception) Age(now time.Time) time.Duration {
	end := now
	if e.Status == ExceptionClosed && e.ClosedAt != nil {
		end = *e.ClosedAt
	}
	return max(0, end.Sub(e.OpenSince))
}

// Acknowledged reports whether a person acknowledged the exception since it
// last opened: an acknowledgement of an earlier life does not count.
func (e Exception) Acknowledged() bool {
	return e.Ack != nil && !e.Ack.At.Before(e.OpenSince)
}

// Ack is a person's acknowledgement of an exception, with a note. Kept
// forever, never changed.
type Ack struct {
	At   time.Time `json:"at"`
	By   string    `json:"by"`
	Note string    `json:"note"`
}

// ExceptionFilter selects exceptions to list.
type ExceptionFilter struct {
	State     string        // ExceptionOpen, ExceptionClosed or "" for all
	Kind      State         // "" for all
	OlderThan time.Duration // 0 for any age
}

// ExceptionsRecorded is what recording a run's discrepancies did, and the
// open exceptions after it (every shard's).
type ExceptionsRecorded struct {
	Seen     int64 // discrepancies the run found
	Opened   int64 // new exceptions
	Reopened int64 // closed ones found again
	Closed   int64 // open ones a full sweep no longer found
	// CloseWithheld says a full sweep closed nothing because its plan was not
	// complete (Plan.Complete: it read a replica behind the run's start).
	CloseWithheld bool
	Open          int64 // open exceptions after the run
	// Unacknowledged counts the open exceptions nobody acknowledged since
	// they last opened; OldestUnacknowledged is the earliest OpenSince among
	// them, nil when none.
	Unacknowledged       int64
	OldestUnacknowledged *time.Time
	// AsOf is the plan's time the sighting was recorded at.
	AsOf time.Time
	// Matched and MatchedConnects count the refund entries (and their
	// Connects) the run matched in the same transaction
	// (reconciler_refund_matches), its own refunds aside.
	Matched, MatchedConnects int64
	// Coverage is what is left unmatched after the run matched.
	Coverage Coverage
}

// Coverage, as a ledger team measures it: the refund entries of the ledger
// that no run has matched yet, by age against the run's settle cutoff.
type Coverage struct {
	// Settling were created at or after the cutoff: no run may match them
	// yet. Overdue were created before it: a run should have matched them
	// (one committed later than its timestamp, past the lookback, waits for
	// the daily full sweep).
	Settling, Overdue Amount
	// OldestUnmatched is the earliest created_at among them, nil when none.
	OldestUnmatched *time.Time
}

// ExceptionAging counts one kind's open exceptions by age, as a full sweep
// recorded them (SweepState), for the report.
type ExceptionAging struct {
	Kind           State
	Open           int64
	OlderThan7d    int64
	OlderThan30d   int64
	Unacknowledged int64
	OldestSince    *time.Time
}

// ErrUnknownException means no exception matches what was asked.
var ErrUnknownException = errors.New("no such exception")

// AmbiguousExceptionError means a proposal component has several
// exceptions and no kind was given to choose one.
type AmbiguousExceptionError struct {
	ProposalID int64
	Component  Component
	Kinds      []State
}

func (e *AmbiguousExceptionError) Error() string {
	return fmt.Sprintf("proposal %d %s has %d exceptions (%v): say which with --kind", e.ProposalID, e.Component, len(e.Kinds), e.Kinds)
}
