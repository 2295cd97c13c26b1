package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/connects/connects-reconciler/reconcile"
)

var qRunningAge = query("running_age.sql")

// RunningAge is how long the oldest run of shard recorded as running has been
// going, on the database's clock: for a run that found the lock taken, the
// age of the run holding it. It is 0 when no run is recorded running.
func RunningAge(ctx context.Context, db *sqlx.DB, shard reconcile.Shard) (time.Duration, error) {
	var secs float64
	if err := db.QueryRowContext(ctx, qRunningAge, shard.String()).Scan(&secs); err != nil {
		return 0, fmt.Errorf("age of the running run: %w", translate(err))
	}
	return time.Duration(secs * float64(time.Second)), nil
}
