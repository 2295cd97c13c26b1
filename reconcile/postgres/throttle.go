package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// ReplicaLag reads how far the read replica's replay is behind the primary
// now, once, without waiting for it to catch up (Reads waits): the apply's
// throttle reads it between batches. A replica that has replayed up to the
// primary's WAL position has no lag; otherwise the lag is the primary's clock
// less the commit time of the last transaction it replayed. ok is false
// without a replica.
func (s *Store) ReplicaLag(ctx context.Context) (lag time.Duration, ok bool, err error) {
	if s.replica == "" {
		return 0, false, nil
	}
	var p struct {
		Now time.Time `db:"now"`
		LSN string    `db:"lsn"`
	}
	if err := s.db.GetContext(ctx, &p, qPrimaryPos); err != nil {
		return 0, true, fmt.Errorf("read the primary's clock and WAL position: %w", translate(err))
	}
	var r struct {
		InRecovery bool         `db:"in_recovery"`
		CaughtUp   bool         `db:"caught_up"`
		ReplayedAt sql.NullTime `db:"replayed_at"`
		Paused     bool         `db:"paused"`
	}
	if err := s.read.GetContext(ctx, &r, qReplicaPos, p.LSN); err != nil {
		return 0, true, fmt.Errorf("read the replica's replay position: %w", s.readErr(err))
	}
	if r.CaughtUp || !r.InRecovery || !r.ReplayedAt.Valid {
		return 0, true, nil
	}
	return max(0, p.Now.Sub(r.ReplayedAt.Time)), true, nil
}
