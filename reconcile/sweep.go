package reconcile

import "time"

// StateTotal counts the components a plan found in one state: how many, the
// Connects they amount to (owed refunds: what is owed; discrepancies: owed
// minus refunded, see Verdict.Difference), and for owed refunds the
// earliest entitling event.
type StateTotal struct {
	Count         int64
	Connects      int64
	OldestEventAt *time.Time
}

// SweepRecord is what the last full sweep recorded, for finance: what its
// plan found per state, as of its plan, and the open exceptions by age
// after it. When the sweeps are sharded it is the last sweep of each shard,
// added up. Finance reads it instead of planning the marketplace again.
type SweepRecord struct {
	// Runs are the sweeps recorded, one per shard (one when unsharded),
	// oldest plan first.
	Runs []SweepRun
	// AsOf is the latest plan among Runs: the exceptions open as of the
	// record are those open since no later than this.
	AsOf time.Time
	// States are the totals per state, in the order of States, only those
	// found or with open exceptions.
	States []SweepState
}

// State returns the totals of state s (zero when none).
func (r *SweepRecord) State(s State) SweepState {
	for _, x := range r.States {
		if x.State == s {
			return x
		}
	}
	return SweepState{State: s}
}

// Issued adds up what the sweeps wrote, planned and skipped.
func (r *SweepRecord) Issued() (planned, issued, skipped Amount) {
	for _, x := range r.Runs {
		planned.Refunds += x.RefundsPlanned
		planned.Connects += x.ConnectsPlanned
		issued.Refunds += x.RefundsIssued
		issued.Connects += x.ConnectsIssued
		skipped.Refunds += x.RefundsSkipped
	}
	return planned, issued, skipped
}

// SweepRun is one full sweep on record.
type SweepRun struct {
	RunID  string
	Shard  string
	Status string // succeeded or refused
	// AsOf is the plan's time (database clock); SettleCutoff the settle
	// cutoff it used; RecordedAt when the run was recorded finished.
	AsOf, SettleCutoff, RecordedAt time.Time

	RefundsPlanned, RefundsIssued, RefundsSkipped int64
	ConnectsPlanned, ConnectsIssued               int64
}

// SweepState is one state's totals in a sweep's record: what the plan found
// (StateTotal), and for discrepancy kinds the open exceptions after the
// sweep, aged at its plan's time.
type SweepState struct {
	State State
	StateTotal
	ExceptionAging
}
