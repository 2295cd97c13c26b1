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
	qExceptionsStage   = query("exceptions_stage.sql")
	qExceptionsCopy    = query("exceptions_copy.sql")
	qExceptionsUpsert  = query("exceptions_upsert.sql")
	qExceptionsSummary = query("exceptions_open_summary.sql")
	qExceptionsList    = query("exceptions_list.sql")
	qExceptionsOf      = query("exceptions_of.sql")
	qExceptionsFind    = query("exceptions_find.sql")
	qExceptionsAck     = query("exceptions_ack.sql")
)

// RecordExceptions keeps the plan's discrepancies as exceptions, in one
// transaction on the primary: they are streamed from the plan's spool into a
// temporary table with COPY, merged with one upsert, and, for a full sweep
// whose plan is complete (not read on a replica behind the run's start), the
// open exceptions of its shard it did not find are closed.
// The settled refund entries no run matched yet are matched in the same
// transaction, on the primary whatever the plan read: those the plan found,
// to the verdicts it reached (matchPlanned), then what it could not place
// (matchRefunds).
func (s *Store) RecordExceptions(ctx context.Context, runID string, p *reconcile.Plan) (reconcile.ExceptionsRecorded, error) {
	rec := reconcile.ExceptionsRecorded{AsOf: p.AsOf}
	shard, err := reconcile.ParseShard(p.Shard)
	if err != nil {
		return rec, fmt.Errorf("plan shard: %w", err)
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return rec, translate(err)
	}
	defer tx.Rollback()
	err = copyRows(ctx, tx, qExceptionsStage, qExceptionsCopy, func(add func(...any) error) error {
		return p.EachDiscrepancy(func(d reconcile.Discrepancy) error {
			return add(d.ProposalID, string(d.Component), string(d.State), d.FreelancerID, d.JobID,
				string(d.Rule), d.Charged, d.Refunded, d.OtherAccount())
		})
	})
	if err != nil {
		return rec, err
	}
	// A sighting is dated when the plan's view was known to be so: on a
	// lagging replica, what it had replayed.
	if err := tx.QueryRowContext(ctx, qExceptionsUpsert, runID, p.SeenAt()).Scan(&rec.Seen, &rec.Opened, &rec.Reopened); err != nil {
		return rec, fmt.Errorf("upsert: %w", translate(err))
	}
	// Closing concludes "no longer there", which only a view containing
	// everything committed up to the run's start can tell.
	rec.CloseWithheld = p.Scope == "full" && !p.Complete()
	if p.Scope == "full" && p.Complete() {
		if rec.Closed, err = execRows(ctx, tx, statement("exceptions_close.sql", filter{shard: shard}), runID, p.AsOf); err != nil {
			return rec, fmt.Errorf("close: %w", translate(err))
		}
	}
	planned, plannedConnects, err := matchPlanned(ctx, tx, runID, p)
	if err != nil {
		return rec, err
	}
	if rec.Matched, rec.MatchedConnects, err = matchRefunds(ctx, tx, runID, p, shard); err != nil {
		return rec, err
	}
	rec.Matched, rec.MatchedConnects = rec.Matched+planned, rec.MatchedConnects+plannedConnects
	if rec.Coverage, err = coverage(ctx, tx, runID, p); err != nil {
		return rec, err
	}
	var oldest sql.NullTime
	if err := tx.QueryRowContext(ctx, qExceptionsSummary).Scan(&rec.Open, &rec.Unacknowledged, &oldest); err != nil {
		return rec, fmt.Errorf("summary: %w", translate(err))
	}
	if oldest.Valid {
		t := oldest.Time.UTC()
		rec.OldestUnacknowledged = &t
	}
	if err := tx.Commit(); err != nil {
		return rec, translate(err)
	}
	return rec, nil
}

// scanException reads a row of exceptions_list.sql or exceptions_of.sql.
func scanException(rows *sql.Rows) (reconcile.Exception, error) {
	var e reconcile.Exception
	var component, kind, rule string
	var closedAt, reopenedAt, ackedAt sql.NullTime
	var by, note string
	if err := rows.Scan(&e.ID, &e.ProposalID, &component, &kind, &e.FreelancerID, &e.JobID, &rule, &e.Charged,
		&e.Refunded, &e.RefundedTo, &e.Status, &e.FirstSeenAt, &e.FirstRunID, &e.LastSeenAt, &e.LastRunID,
		&e.OpenSince, &closedAt, &e.ClosedRunID, &e.ReopenedCount, &reopenedAt, &ackedAt, &by, &note); err != nil {
		return e, err
	}
	e.Component, e.State, e.Rule = reconcile.Component(component), reconcile.State(kind), reconcile.Rule(rule)
	e.FirstSeenAt, e.LastSeenAt, e.OpenSince = e.FirstSeenAt.UTC(), e.LastSeenAt.UTC(), e.OpenSince.UTC()
	e.ClosedAt, e.ReopenedAt = utcPtr(closedAt), utcPtr(reopenedAt)
	if ackedAt.Valid {
		e.Ack = &reconcile.Ack{At: ackedAt.Time.UTC(), By: by, Note: note}
	}
	return e, nil
}

// utcPtr is a nullable time column in UTC (reconcile.UTC), nil for NULL.
func utcPtr(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	return reconcile.UTC(&t.Time)
}

// Exceptions streams the exceptions f selects, oldest first, to fn, with the
// database's clock (read once, before) for their ages. They are read on the primary: an acknowledgement just written
// shows at once.
func (s *Store) Exceptions(ctx context.Context, f reconcile.ExceptionFilter, fn func(e reconcile.Exception, now time.Time) error) (time.Time, error) {
	var now time.Time
	if err := s.db.GetContext(ctx, &now, qClock); err != nil {
		return now, fmt.Errorf("read clock: %w", translate(err))
	}
	now = now.UTC()
	rows, err := s.db.QueryContext(ctx, qExceptionsList, f.State, string(f.Kind), f.OlderThan.Seconds())
	if err != nil {
		return now, fmt.Errorf("list exceptions: %w", translate(err))
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanException(rows)
		if err != nil {
			return now, fmt.Errorf("list exceptions: %w", translate(err))
		}
		if err := fn(e, now); err != nil {
			return now, err
		}
	}
	if err := rows.Err(); err != nil {
		return now, fmt.Errorf("list exceptions: %w", translate(err))
	}
	return now, nil
}

// ExceptionsOf returns the exceptions of the keys that have one, in key
// order, read where exports read (the replica when there is one).
func (s *Store) ExceptionsOf(ctx context.Context, keys []reconcile.ExceptionKey) ([]reconcile.Exception, error) {
	ids := make([]int64, len(keys))
	comps := make([]string, len(keys))
	kinds := make([]string, len(keys))
	for i, k := range keys {
		ids[i], comps[i], kinds[i] = k.ProposalID, string(k.Component), string(k.Kind)
	}
	rows, err := s.read.QueryContext(ctx, qExceptionsOf, pq.Array(ids), pq.Array(comps), pq.Array(kinds))
	if err != nil {
		return nil, fmt.Errorf("read exceptions: %w", s.readErr(err))
	}
	defer rows.Close()
	var out []reconcile.Exception
	for rows.Next() {
		e, err := scanException(rows)
		if err != nil {
			return nil, fmt.Errorf("read exceptions: %w", s.readErr(err))
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read exceptions: %w", s.readErr(err))
	}
	return out, nil
}

// Acknowledge appends an acknowledgement to the exception of a proposal
// component (of kind k, or the only open one when k is ""), and returns the
// exception as it stands with it. ErrUnknownException when none matches;
// an *AmbiguousExceptionError when k is "" and several could be meant.
func (s *Store) Acknowledge(ctx context.Context, proposal int64, c reconcile.Component, k reconcile.State, by, note string) (reconcile.Exception, error) {
	var found []struct {
		ID    int64  `db:"id"`
		Kind  string `db:"kind"`
		State string `db:"state"`
	}
	key := reconcile.ExceptionKey{ProposalID: proposal, Component: c, Kind: k}
	if err := s.db.SelectContext(ctx, &found, qExceptionsFind, proposal, string(c), string(k)); err != nil {
		return reconcile.Exception{}, fmt.Errorf("find exception: %w", translate(err))
	}
	if len(found) == 0 {
		what := fmt.Sprintf("proposal %d %s", proposal, c)
		if k != "" {
			what += " " + string(k)
		}
		return reconcile.Exception{}, fmt.Errorf("%w: %s (discrepancies list shows the known ones)", reconcile.ErrUnknownException, what)
	}
	pick := found[0]
	if k == "" && len(found) > 1 && (found[1].State == reconcile.ExceptionOpen || found[0].State != reconcile.ExceptionOpen) {
		amb := &reconcile.AmbiguousExceptionError{ProposalID: proposal, Component: c}
		for _, f := range found {
			amb.Kinds = append(amb.Kinds, reconcile.State(f.Kind))
		}
		return reconcile.Exception{}, amb
	}
	key.Kind = reconcile.State(pick.Kind)
	if _, err := s.db.ExecContext(ctx, qExceptionsAck, pick.ID, by, note); err != nil {
		return reconcile.Exception{}, fmt.Errorf("acknowledge %s: %w", key, translate(err))
	}
	rows, err := s.db.QueryContext(ctx, qExceptionsOf, pq.Array([]int64{proposal}), pq.Array([]string{string(c)}), pq.Array([]string{pick.Kind}))
	if err != nil {
		return reconcile.Exception{}, fmt.Errorf("read exception: %w", translate(err))
	}
	defer rows.Close()
	if !rows.Next() {
		return reconcile.Exception{}, fmt.Errorf("read exception %s: %w", key, rows.Err())
	}
	e, err := scanException(rows)
	if err != nil {
		return reconcile.Exception{}, fmt.Errorf("read exception: %w", translate(err))
	}
	return e, nil
}

// copyRows creates a run's temporary table (stage) and fills it by COPY
// (copy, a pq.CopyIn statement), one row for each call of add: how a run's
// spooled records reach the database in bulk.
func copyRows(ctx context.Context, tx *sqlx.Tx, stage, copy string, each func(add func(...any) error) error) error {
	if _, err := tx.ExecContext(ctx, stage); err != nil {
		return fmt.Errorf("stage: %w", translate(err))
	}
	stmt, err := tx.PrepareContext(ctx, copy)
	if err != nil {
		return fmt.Errorf("copy: %w", translate(err))
	}
	err = each(func(args ...any) error {
		_, err := stmt.ExecContext(ctx, args...)
		return err
	})
	if err == nil {
		_, err = stmt.ExecContext(ctx) // flush the COPY
	}
	if cerr := stmt.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("copy: %w", translate(err))
	}
	return nil
}
