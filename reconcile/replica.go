package reconcile

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// Where a plan read the marketplace.
const (
	OnPrimary = "primary"
	OnReplica = "replica"
)

// Reads says where a run plans and how far what it reads there is complete.
type Reads struct {
	// Now is the primary's clock: the plan's time, and what the settle delay
	// is counted back from.
	Now time.Time
	// On is OnPrimary or OnReplica.
	On string
	// Until, when set, is how far the replica has replayed: the commit time
	// of the last transaction it applied. Transactions the primary committed
	// later may be missing from what the plan reads. Nil when the replica has
	// replayed everything the primary had written at Now (or on the primary).
	Until *time.Time
	// Lag is Now less Until: 0 when Until is nil.
	Lag time.Duration
	// Paused says the replica's replay is paused (pg_wal_replay_pause()).
	Paused bool
}

// ReplicaStore is a Store that may plan on a read replica (a hot standby).
// The run loop bounds its settle cutoff, and with it the watermark a
// successful run saves, by what the replica has replayed, so replica lag
// delays a refund but never loses one.
type ReplicaStore interface {
	// Reads reads the primary's clock and where, and how far, planning
	// reads. It fails when a configured replica does not answer or is not a
	// standby.
	Reads(ctx context.Context) (Reads, error)
}

// ReplicaLagError means the replica lagged more than Options.MaxReplicaLag:
// the run planned nothing and wrote nothing.
type ReplicaLagError struct {
	Lag, Max time.Duration
	Until    time.Time
	Paused   bool
}

func (e *ReplicaLagError) Error() string {
	paused := ""
	if e.Paused {
		paused = ", and its replay is paused (SELECT pg_wal_replay_resume() on the standby)"
	}
	return fmt.Sprintf("the read replica is %s behind the primary (it has replayed up to %s%s), more than max_replica_lag %s: "+
		"nothing planned, nothing written; the next run plans once it has caught up "+
		"(to plan on the primary instead, run without replica_database_url)",
		e.Lag.Round(time.Second), e.Until.UTC().Format(time.RFC3339), paused, e.Max)
}

// readBound reads the clock and where the run plans, and returns the settle
// cutoff (Reads.SettleCutoff); a replica lagging past MaxReplicaLag is an
// error.
func (r *Reconciler) readBound(ctx context.Context) (Reads, time.Time, error) {
	var reads Reads
	if err := r.retry(ctx, "read clock", func(ctx context.Context) (err error) {
		reads, err = readsOf(ctx, r.Store)
		return err
	}); err != nil {
		return Reads{}, time.Time{}, err
	}
	cutoff := reads.SettleCutoff(r.Policy.SettleDelay)
	if reads.On != OnReplica {
		return reads, cutoff, nil
	}
	if max := r.Options.MaxReplicaLag; max > 0 && reads.Lag > max {
		return reads, cutoff, &ReplicaLagError{Lag: reads.Lag, Max: max, Until: *reads.Until, Paused: reads.Paused}
	}
	if unbounded := reads.Now.Add(-r.Policy.SettleDelay); cutoff.Before(unbounded) {
		r.log().Info("settle cutoff bounded by the replica's replay", zap.Time("settle_cutoff", unbounded),
			zap.Time("replayed_until", *reads.Until), zap.Duration("replica_lag", reads.Lag), zap.Bool("replay_paused", reads.Paused))
	}
	return reads, cutoff, nil
}

// readsOf reads the clock and where s reads: a ReplicaStore says whether
// that is a replica and how far it has replayed; any other store reads the
// primary.
func readsOf(ctx context.Context, s interface {
	Clock(ctx context.Context) (time.Time, error)
}) (Reads, error) {
	if rs, ok := s.(ReplicaStore); ok {
		return rs.Reads(ctx)
	}
	now, err := s.Clock(ctx)
	return Reads{Now: now, On: OnPrimary}, err
}

// SettleCutoff is the read bound of a run and of explain: events before it
// are settled. It is the primary's clock less the settle delay, or what the
// replica has replayed, whichever is earlier: what a lagging replica has not
// replayed is not judged.
func (reads Reads) SettleCutoff(delay time.Duration) time.Time {
	cutoff := reads.Now.Add(-delay)
	if reads.On == OnReplica && reads.Until != nil && reads.Until.Before(cutoff) {
		return *reads.Until
	}
	return cutoff
}
