package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

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

// RunningAge reads the age and the silence of the run holding shard's lock.
func RunningAge(ctx context.Context, db *sqlx.DB, shard reconcile.Shard) (Holder, error) {
	var age float64
	var silent sql.NullFloat64
	if err := db.QueryRowContext(ctx, qRunningAge, shard.String(), reconcile.LockKey(shard)).Scan(&age, &silent); err != nil {
		return Holder{}, fmt.Errorf("age of the running run: %w", translate(err))
	}
	h := Holder{Age: seconds(age)}
	if silent.Valid {
		h.Silent = max(0, seconds(silent.Float64))
	}
	return h, nil
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
