package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/connects/connects-reconciler/reconcile"
)

var qRunningAge = query("running_age.sql")

// Holder is what a run that found the lock taken reads of the run holding
// it, on the database's clock.
type Holder struct {
	// Age is how long the oldest run of the shard recorded as running has
	// been going: the holder's; 0 when none is recorded running.
	Age time.Duration
	// Silent is how long ago the holder last beat its heartbeat; 0 when no
	// heartbeat is on record (a holder of a release without one, or one
	// that has just taken the lock).
	Silent time.Duration
}

// RunningAge reads, on the primary, the age and the silence of the run
// holding shard's lock.
func (s *Store) RunningAge(ctx context.Context, shard reconcile.Shard) (Holder, error) {
	var row struct {
		Age    float64         `db:"age"`
		Silent sql.NullFloat64 `db:"silent"`
	}
	if err := s.db.GetContext(ctx, &row, qRunningAge, shard.String(), reconcile.LockKey(shard)); err != nil {
		return Holder{}, fmt.Errorf("age of the running run: %w", translate(err))
	}
	h := Holder{Age: seconds(row.Age)}
	if row.Silent.Valid {
		h.Silent = max(0, seconds(row.Silent.Float64))
	}
	return h, nil
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
