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
	qSweepExceptions = files.Render("sweep_exceptions.sql", nil)
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
	var runs []sweepRunRow
	if err := s.read.SelectContext(ctx, &runs, qSweepLast, at); err != nil {
		return nil, fmt.Errorf("read the last sweep: %w", s.readErr(err))
	}
	if len(runs) == 0 {
		return nil, nil
	}
	var rec reconcile.SweepRecord
	ids := make([]string, len(runs))
	for i, row := range runs {
		r := row.run()
		rec.Runs = append(rec.Runs, r)
		ids[i] = r.RunID
		if r.AsOf.After(rec.AsOf) {
			rec.AsOf = r.AsOf
		}
	}
	var states []sweepStateRow
	if err := s.read.SelectContext(ctx, &states, qSweepStates, pq.Array(ids)); err != nil {
		return nil, fmt.Errorf("read the last sweep's totals: %w", s.readErr(err))
	}
	found := map[reconcile.State]reconcile.SweepState{}
	for _, row := range states {
		x := row.state()
		found[x.State] = x
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

// sweepRunRow is a row of sweep_last.sql.
type sweepRunRow struct {
	RunID           string    `db:"run_id"`
	Shard           string    `db:"shard"`
	Status          string    `db:"status"`
	AsOf            time.Time `db:"as_of"`
	SettleCutoff    time.Time `db:"settle_cutoff"`
	RecordedAt      time.Time `db:"recorded_at"`
	RefundsPlanned  int64     `db:"refunds_planned"`
	ConnectsPlanned int64     `db:"connects_planned"`
	RefundsIssued   int64     `db:"refunds_issued"`
	ConnectsIssued  int64     `db:"connects_issued"`
	RefundsSkipped  int64     `db:"refunds_skipped"`
}

func (r sweepRunRow) run() reconcile.SweepRun {
	return reconcile.SweepRun{RunID: r.RunID, Shard: r.Shard, Status: r.Status,
		AsOf: r.AsOf.UTC(), SettleCutoff: r.SettleCutoff.UTC(), RecordedAt: r.RecordedAt.UTC(),
		RefundsPlanned: r.RefundsPlanned, ConnectsPlanned: r.ConnectsPlanned, RefundsIssued: r.RefundsIssued,
		ConnectsIssued: r.ConnectsIssued, RefundsSkipped: r.RefundsSkipped}
}

// sweepStateRow is a row of sweep_states.sql: one state's totals over the
// sweep's runs.
type sweepStateRow struct {
	State           string       `db:"state"`
	Count           int64        `db:"count"`
	Connects        int64        `db:"connects"`
	OldestEventAt   sql.NullTime `db:"oldest_event_at"`
	Open            int64        `db:"open"`
	OlderThan7d     int64        `db:"older_7d"`
	OlderThan30d    int64        `db:"older_30d"`
	Unacknowledged  int64        `db:"unacknowledged"`
	OldestOpenSince sql.NullTime `db:"oldest_open_since"`
}

func (r sweepStateRow) state() reconcile.SweepState {
	var x reconcile.SweepState
	x.State, x.Kind = reconcile.State(r.State), reconcile.State(r.State)
	x.Count, x.Connects, x.OldestEventAt = r.Count, r.Connects, utcPtr(r.OldestEventAt)
	x.Open, x.OlderThan7d, x.OlderThan30d = r.Open, r.OlderThan7d, r.OlderThan30d
	x.Unacknowledged, x.OldestSince = r.Unacknowledged, utcPtr(r.OldestOpenSince)
	return x
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
	return streamExceptions(ctx, s.read, func(err error) error { return fmt.Errorf("read exceptions: %w", s.readErr(err)) },
		fn, qSweepExceptions, asOf, pq.Array(kinds))
}
