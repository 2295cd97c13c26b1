package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"go.uber.org/zap"

	"github.com/connects/connects-reconciler/config"
	"github.com/connects/connects-reconciler/reconcile"
)

// WithReplica makes the store plan, and read for exports, reports and
// explain, on read: a hot standby of the primary, named by its DSN (redacted
// here) in messages. Every write, the run lock, the run records, the
// watermarks and the seen events stay on the primary, and each apply batch
// evaluates the policy again there.
func (s *Store) WithReplica(read *sqlx.DB, dsn string) *Store {
	c := *s
	c.read, c.replica = read, config.Redact(dsn)
	return &c
}

// OpenReplica connects to a read replica with the same bounds as the
// database's and checks that it is a hot standby; errors name the replica
// (password masked) and wrap ErrNotStandby for a server that is not one.
func OpenReplica(ctx context.Context, dsn string, t Timeouts) (*sqlx.DB, error) {
	db, err := Open(ctx, dsn, t)
	if err != nil {
		return nil, fmt.Errorf("replica_database_url: %w", err)
	}
	if err := CheckStandby(ctx, db); err != nil {
		db.Close()
		if errors.Is(err, ErrNotStandby) {
			return nil, fmt.Errorf("replica_database_url: %s %w: point it at a standby of the database, or unset it to plan on the database itself",
				config.Redact(dsn), err)
		}
		return nil, fmt.Errorf("replica_database_url: %s: %w", config.Redact(dsn), err)
	}
	return db, nil
}

// ErrNotStandby means the replica's URL names a server that is not in
// recovery: a primary (a promoted standby, or the wrong server).
var ErrNotStandby = fmt.Errorf("is not a hot standby (pg_is_in_recovery() is false)")

// CheckStandby fails unless db is a hot standby (standby_check.sql).
func CheckStandby(ctx context.Context, db *sqlx.DB) error {
	var in bool
	if err := db.GetContext(ctx, &in, qStandbyCheck); err != nil {
		return translate(err)
	}
	if !in {
		return ErrNotStandby
	}
	return nil
}

// ReplicaCatchUpWait is how long Reads waits for the replica to replay up to
// the primary's position before it measures the lag.
var ReplicaCatchUpWait = 2 * time.Second

// Reads reads the primary's clock and WAL position (what there is to replay:
// an idle primary's insert position just past a segment switch's page header
// counts as the page's start), then how far the replica has replayed. When
// the replica has replayed up to the primary's position,
// it has every transaction committed before that clock reading: the reads
// are complete (Until nil, lag 0), however long ago the last transaction was
// (an idle primary). Otherwise they are complete up to the commit time of the
// last transaction the replica replayed (pg_last_xact_replay_timestamp()),
// and the lag is the primary's clock less that time. It waits up to
// ReplicaCatchUpWait for the replica to reach the primary's position first.
func (s *Store) Reads(ctx context.Context) (reconcile.Reads, error) {
	if s.replica == "" {
		now, err := s.Clock(ctx)
		return reconcile.Reads{Now: now, On: reconcile.OnPrimary}, err
	}
	var p struct {
		Now time.Time `db:"now"`
		LSN string    `db:"lsn"`
	}
	if err := s.db.GetContext(ctx, &p, qPrimaryPos); err != nil {
		return reconcile.Reads{}, fmt.Errorf("read the primary's clock and WAL position: %w", translate(err))
	}
	var r struct {
		InRecovery bool         `db:"in_recovery"`
		CaughtUp   bool         `db:"caught_up"`
		ReplayedAt sql.NullTime `db:"replayed_at"`
		Paused     bool         `db:"paused"`
	}
	// The run's own record was just committed on the primary: give the
	// replica a moment to replay up to the position, so an idle primary
	// (whose last transaction may be hours old) reads as caught up.
	wait := time.NewTimer(ReplicaCatchUpWait)
	defer wait.Stop()
	for {
		if err := s.read.GetContext(ctx, &r, qReplicaPos, p.LSN); err != nil {
			return reconcile.Reads{}, fmt.Errorf("read the replica's replay position: %w", s.readErr(err))
		}
		if r.CaughtUp || !r.InRecovery || r.Paused {
			break
		}
		select {
		case <-ctx.Done():
			return reconcile.Reads{}, ctx.Err()
		case <-wait.C:
		case <-time.After(20 * time.Millisecond):
			continue
		}
		break
	}
	if !r.InRecovery {
		return reconcile.Reads{}, fmt.Errorf("replica %s %w: point replica_database_url at a standby of the primary, or unset it to plan on the primary",
			s.replica, ErrNotStandby)
	}
	out := reconcile.Reads{Now: p.Now.UTC(), On: reconcile.OnReplica, Paused: r.Paused}
	switch {
	case r.CaughtUp:
	case !r.ReplayedAt.Valid:
		return reconcile.Reads{}, fmt.Errorf("replica %s: has not replayed a transaction since it started and is behind the primary (WAL %s): its lag is unknown; nothing planned",
			s.replica, p.LSN)
	default:
		until := r.ReplayedAt.Time.UTC()
		out.Until = &until
		out.Lag = max(0, out.Now.Sub(until))
	}
	s.log.Debug("replica position", zap.String("replica", s.replica), zap.Bool("caught_up", r.CaughtUp),
		zap.Duration("lag", out.Lag), zap.Bool("replay_paused", r.Paused))
	return out, nil
}

// PrimaryPosition reads what a standby of db must have replayed to hold
// every transaction db has committed so far (primary_position.sql): tests and
// the benchmark wait for it.
func PrimaryPosition(ctx context.Context, db *sqlx.DB) (string, error) {
	var p struct {
		Now time.Time `db:"now"`
		LSN string    `db:"lsn"`
	}
	if err := db.GetContext(ctx, &p, qPrimaryPos); err != nil {
		return "", translate(err)
	}
	return p.LSN, nil
}

// ReadsUntil is the time the store's reads are complete to: the primary's
// clock, or with a lagging replica what it has replayed.
func (s *Store) ReadsUntil(ctx context.Context) (time.Time, error) {
	r, err := s.Reads(ctx)
	if err != nil {
		return time.Time{}, err
	}
	if r.Until != nil && r.Until.Before(r.Now) {
		return *r.Until, nil
	}
	return r.Now, nil
}

// readErr translates an error of a statement on the read pool and, with a
// replica, names it: an operator must know which server failed.
func (s *Store) readErr(err error) error {
	err = translate(err)
	if s.replica == "" || err == nil {
		return err
	}
	return fmt.Errorf("replica %s: %w", s.replica, err)
}

// earlier is the earlier of two times.
func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
