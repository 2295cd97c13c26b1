package reconcile

import (
	"context"
	"fmt"
	"math"
	"time"

	"go.uber.org/zap"
)

// ApplyOptions say how one apply transaction treats the rows other
// transactions hold.
type ApplyOptions struct {
	// Wait makes the transaction wait for the balance rows other
	// transactions hold, up to LockTimeout; without it, a held row is not
	// waited for: the transaction is rolled back and Apply returns a
	// *ContendedError.
	Wait bool
	// LockTimeout bounds every lock wait of the transaction (a balance row,
	// a refund key being inserted by the online path); 0 leaves the
	// session's lock_timeout.
	LockTimeout time.Duration
}

// ContendedError means an apply transaction found balance rows held by other
// transactions and was rolled back, writing nothing.
type ContendedError struct {
	// Accounts are the accounts whose balance rows were held.
	Accounts []int64
	// Held are the batch's refunds to those accounts, by their index in the
	// batch, in order.
	Held []int
}

// ComponentKey names one component of a proposal.
type ComponentKey struct {
	ProposalID int64
	Component  Component
}

func (e *ContendedError) Error() string {
	return fmt.Sprintf("%d balance rows held by other transactions (%d refunds); batch rolled back", len(e.Accounts), len(e.Held))
}

// split separates a batch into the refunds not held up and those held up.
func (e *ContendedError) split(batch []Verdict) (keep, held []Verdict) {
	h := 0
	for i, v := range batch {
		if h < len(e.Held) && e.Held[h] == i {
			held = append(held, v)
			h++
		} else {
			keep = append(keep, v)
		}
	}
	return keep, held
}

// firstApplyBatch is the size of the first apply batch when batches are sized
// by time: small, so that the first transaction is short whatever a refund
// costs; the next ones grow from what it took. minApplyBatch is the smallest
// a batch shrinks to: a transaction's fixed cost (round trips, planning the
// policy statement, the commit) does not shrink with it, and on a loaded
// server a batch of one refund may alone take longer than the target, so
// that smaller batches would only multiply that cost.
const (
	firstApplyBatch = 100
	minApplyBatch   = 10
)

// batchSizer sizes apply batches by time: each batch holds as many refunds as
// the previous ones wrote in Options.ApplyBatchTime, growing at most twofold
// from one batch to the next and shrinking at once, from minApplyBatch up to
// Options.ApplyBatchSize.
type batchSizer struct {
	size, max int
	target    time.Duration
}

func newBatchSizer(o Options) *batchSizer {
	most := o.ApplyBatchSize
	if most <= 0 {
		most = 5000
	}
	if o.ApplyBatchTime <= 0 {
		return &batchSizer{size: most, max: most}
	}
	return &batchSizer{size: min(most, firstApplyBatch), max: most, target: o.ApplyBatchTime}
}

// observe sizes the next batch from a committed one of n refunds that took
// took.
func (b *batchSizer) observe(n int, took time.Duration) {
	if b.target <= 0 || n <= 0 {
		return
	}
	ideal := int(math.Ceil(float64(n) * float64(b.target) / float64(max(took, time.Microsecond))))
	b.size = max(min(minApplyBatch, b.max), min(ideal, 2*n, b.max))
}

// failed halves the next batch after a transaction that did not commit (a
// held row, a lock timeout): a smaller batch holds fewer rows and loses less.
func (b *batchSizer) failed() {
	if b.target > 0 {
		b.size = max(min(minApplyBatch, b.max), b.size/2)
	}
}

// ReplicaLagger is a Store that can say how far its read replica's replay is
// behind the primary right now, without waiting for it.
type ReplicaLagger interface {
	// ReplicaLag returns the replica's replay lag; ok is false when the
	// store has no replica.
	ReplicaLag(ctx context.Context) (lag time.Duration, ok bool, err error)
}

// Throttle timing: the replica's lag is read at most every throttleEvery
// while applying, and every throttlePoll while paused.
var (
	throttleEvery = time.Second
	throttlePoll  = 250 * time.Millisecond
)

// throttle pauses the apply while the read replica lags more than
// Options.ApplyMaxReplicaLag: a backlog written at the primary's speed must
// not push the replicas behind.
type throttle struct {
	r       *Reconciler
	lagger  ReplicaLagger
	max     time.Duration
	checked time.Time
}

func (r *Reconciler) newThrottle() *throttle {
	t := &throttle{r: r, max: r.Options.ApplyMaxReplicaLag}
	t.lagger, _ = r.Store.(ReplicaLagger)
	return t
}

// wait returns at once unless the replica lags more than the limit; then it
// waits until it no longer does, or ctx ends. A replica whose lag cannot be
// read does not pause the apply (it is warned about): the throttle protects
// the replicas' readers, and the primary needs none.
func (t *throttle) wait(ctx context.Context, res *Result) error {
	if t == nil || t.lagger == nil || t.max <= 0 {
		return nil
	}
	if now := t.r.now(); now.Sub(t.checked) < throttleEvery {
		return nil
	}
	var since time.Time
	for {
		lag, ok, err := t.lagger.ReplicaLag(ctx)
		t.checked = t.r.now()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			t.r.log().Warn("apply throttle: cannot read the replica's lag; applying on", zap.Error(err))
			return nil
		}
		if !ok || lag <= t.max {
			if !since.IsZero() {
				paused := t.checked.Sub(since)
				res.Throttled += paused
				t.r.log().Info("apply resumed: the replica caught up", zap.Duration("replica_lag", lag),
					zap.Duration("paused", paused))
			}
			return nil
		}
		if since.IsZero() {
			since = t.checked
			t.r.log().Info("apply paused: the replica is too far behind", zap.Duration("replica_lag", lag),
				zap.Duration("apply_max_replica_lag", t.max))
		}
		select {
		case <-ctx.Done():
			res.Throttled += t.r.now().Sub(since)
			return fmt.Errorf("paused for the replica's lag: %w", ctx.Err())
		case <-time.After(throttlePoll):
		}
	}
}
