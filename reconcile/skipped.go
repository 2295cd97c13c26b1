package reconcile

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// recheckIDs is how many skipped proposals one re-evaluation looks up.
const recheckIDs = 10000

// recheckSkipped narrows what the run's skipped refunds add to OldestOwed
// to those the policy still owes once the apply is over: a refund skipped
// because its job was reopened (or closed hired) mid-run, or because it was
// refunded online meanwhile, is owed by nobody and must not hold
// oldest_owed_refund_age_seconds up until the scope's next run (a day, for
// the full sweep's group); one skipped because its amount or rule changed is
// still owed and counts. The policy is evaluated once more, by id, for the
// skipped proposals only; should that fail, every skipped refund keeps
// counting (erring towards an alert).
func (r *Reconciler) recheckSkipped(ctx context.Context, res *Result) {
	if res.SkippedCount() == 0 || res.oldestSkipped == nil || ctx.Err() != nil {
		return
	}
	type key struct {
		proposal  int64
		component Component
	}
	skipped := map[key]bool{}
	var ids []int64
	var oldest *time.Time
	check := func() error {
		if len(ids) == 0 {
			return nil
		}
		var found []Verdict
		err := r.retry(ctx, "re-evaluate skipped refunds", func(ctx context.Context) (err error) {
			found, err = r.Store.PlanSlice(ctx, res.Plan.Policy, res.Plan.SettleCutoff, r.Options.Shard, Slice{IDs: ids}, false)
			return err
		})
		if err != nil {
			return err
		}
		for _, f := range found {
			if (f.State == MissingRefund || f.State == PendingRefund) && skipped[key{f.ProposalID, f.Component}] {
				oldest = earliest(oldest, f.EventAt)
			}
		}
		ids = ids[:0]
		clear(skipped)
		return nil
	}
	last := int64(-1)
	err := mergeSpools(&res.skipped, &res.skippedLate, func(f Verdict) error {
		skipped[key{f.ProposalID, f.Component}] = true
		if f.ProposalID != last { // the spool is in proposal order
			if len(ids) == recheckIDs {
				// the proposal's other component, if skipped, is in the next lot
				if err := check(); err != nil {
					return err
				}
				skipped[key{f.ProposalID, f.Component}] = true
			}
			ids = append(ids, f.ProposalID)
			last = f.ProposalID
		}
		return nil
	})
	if err == nil {
		err = check()
	}
	if err != nil {
		r.log().Warn("skipped refunds not re-evaluated; all of them count as still owed", zap.Error(err))
		return
	}
	res.oldestSkipped = oldest
}
