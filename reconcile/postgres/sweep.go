package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/connects/connects-reconciler/reconcile"
)

var (
	qSweepLast       = query("sweep_last.sql")
	qSweepStates     = query("sweep_states.sql")
	qSweepExceptions = query("sweep_exceptions.sql")
)

// recordSweep records a full sweep's totals per state and the open
// exceptions of its shard by age, in tx (the one that closes its run record).
func recordSweep(ctx context.Context, tx *sqlx.Tx, runID string, shard reconcile.Shard, totals map[reconcile.State]reconcile.StateTotal) error {
	var states, oldest []string
	var counts, connects []int64
	for _, st := range reconcile.States { // a fixed order: the statement's rows come out the same every time
		t, ok := totals[st]
		if !ok {
			continue
		}
		o := ""
		if t.OldestEventAt != nil {
			o = t.OldestEventAt.UTC().Format(time.RFC3339Nano)
		}
		states, counts, connects, oldest = append(states, string(st)), append(counts, t.Count), append(connects, t.Connects), append(oldest, o)
	}
	if _, err := tx.ExecContext(ctx, statement("sweep_record.sql", filter{shard: shard}), runID,
		pq.Array(states), pq.Array(counts), pq.Array(connects), pq.Array(oldest)); err != nil {
		return translate(err)
	}
	return nil
}

// LastSweep returns the record of the last full sweep recorded at or before
// by (nil: the last of all), every shard's when sweeps are sharded; nil when
// there is none. It reads where exports read (the replica when there is one).
func (s *Store) LastSweep(ctx context.Context, by *time.Time) (*reconcile.SweepRecord, error) {
	var at any
	if by != nil {
		at = *by
	}
	rows, err := s.read.QueryContext(ctx, qSweepLast, at)
	if err != nil {
		return nil, fmt.Errorf("read the last sweep: %w", s.readErr(err))
	}
	defer rows.Close()
	var rec reconcile.SweepRecord
	var ids []string
	for rows.Next() {
		var r reconcile.SweepRun
		if err := rows.Scan(&r.RunID, &r.Shard, &r.Status, &r.AsOf, &r.SettleCutoff, &r.RecordedAt, &r.RefundsPlanned,
			&r.ConnectsPlanned, &r.RefundsIssued, &r.ConnectsIssued, &r.RefundsSkipped); err != nil {
			return nil, fmt.Errorf("read the last sweep: %w", s.readErr(err))
		}
		r.AsOf, r.SettleCutoff, r.RecordedAt = r.AsOf.UTC(), r.SettleCutoff.UTC(), r.RecordedAt.UTC()
		rec.Runs = append(rec.Runs, r)
		ids = append(ids, r.RunID)
		if r.AsOf.After(rec.AsOf) {
			rec.AsOf = r.AsOf
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the last sweep: %w", s.readErr(err))
	}
	if len(rec.Runs) == 0 {
		return nil, nil
	}
	states, err := s.read.QueryContext(ctx, qSweepStates, pq.Array(ids))
	if err != nil {
		return nil, fmt.Errorf("read the last sweep's totals: %w", s.readErr(err))
	}
	defer states.Close()
	found := map[reconcile.State]reconcile.SweepState{}
	for states.Next() {
		var x reconcile.SweepState
		var st string
		var oldestEvent, oldestOpen sql.NullTime
		if err := states.Scan(&st, &x.Count, &x.Connects, &oldestEvent, &x.Open, &x.OlderThan7d, &x.OlderThan30d,
			&x.Unacknowledged, &oldestOpen); err != nil {
			return nil, fmt.Errorf("read the last sweep's totals: %w", s.readErr(err))
		}
		x.State, x.Kind = reconcile.State(st), reconcile.State(st)
		x.OldestEventAt, x.OldestSince = utcPtr(oldestEvent), utcPtr(oldestOpen)
		found[x.State] = x
	}
	if err := states.Err(); err != nil {
		return nil, fmt.Errorf("read the last sweep's totals: %w", s.readErr(err))
	}
	for _, st := range reconcile.States {
		if x, ok := found[st]; ok {
			rec.States = append(rec.States, x)
			delete(found, st)
		}
	}
	for _, x := range found { // a state this version does not know: kept, last
		rec.States = append(rec.States, x)
	}
	return &rec, nil
}

// SweepExceptions streams to fn the exceptions open as of a sweep's plan
// time asOf (open now, and since no later than asOf), by kind in the order
// of reconcile.DiscrepancyStates, then proposal and component, each with its
// latest acknowledgement.
func (s *Store) SweepExceptions(ctx context.Context, asOf time.Time, fn func(reconcile.Exception) error) error {
	kinds := make([]string, len(reconcile.DiscrepancyStates))
	for i, k := range reconcile.DiscrepancyStates {
		kinds[i] = string(k)
	}
	rows, err := s.read.QueryContext(ctx, qSweepExceptions, asOf, pq.Array(kinds))
	if err != nil {
		return fmt.Errorf("read exceptions: %w", s.readErr(err))
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanException(rows)
		if err != nil {
			return fmt.Errorf("read exceptions: %w", s.readErr(err))
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read exceptions: %w", s.readErr(err))
	}
	return nil
}
