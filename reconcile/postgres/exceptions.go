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
	qExceptionsList    = files.Render("exceptions_list.sql", nil)
	qExceptionsOf      = files.Render("exceptions_of.sql", nil)
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

// exceptionRow is a row of exceptions_list.sql, exceptions_of.sql and
// sweep_exceptions.sql: an exception with its latest acknowledgement.
type exceptionRow struct {
	ID            int64        `db:"id"`
	ProposalID    int64        `db:"proposal_id"`
	Component     string       `db:"component"`
	Kind          string       `db:"kind"`
	FreelancerID  int64        `db:"freelancer_id"`
	JobID         int64        `db:"job_id"`
	Rule          string       `db:"rule"`
	Charged       int64        `db:"charged"`
	Refunded      int64        `db:"refunded"`
	RefundedTo    int64        `db:"refunded_to"`
	State         string       `db:"state"`
	FirstSeenAt   time.Time    `db:"first_seen_at"`
	FirstRunID    string       `db:"first_run_id"`
	LastSeenAt    time.Time    `db:"last_seen_at"`
	LastRunID     string       `db:"last_run_id"`
	OpenSince     time.Time    `db:"open_since"`
	ClosedAt      sql.NullTime `db:"closed_at"`
	ClosedRunID   string       `db:"closed_run_id"`
	ReopenedCount int64        `db:"reopened_count"`
	ReopenedAt    sql.NullTime `db:"reopened_at"`
	AckedAt       sql.NullTime `db:"acked_at"`
	AckedBy       string       `db:"acked_by"`
	Note          string       `db:"note"`
}

func (r *exceptionRow) exception() reconcile.Exception {
	e := reconcile.Exception{ID: r.ID,
		Verdict: reconcile.Verdict{ProposalID: r.ProposalID, Component: reconcile.Component(r.Component),
			State: reconcile.State(r.Kind), FreelancerID: r.FreelancerID, JobID: r.JobID, Rule: reconcile.Rule(r.Rule),
			Charged: r.Charged, Refunded: r.Refunded, RefundedTo: r.RefundedTo},
		Status: r.State, FirstSeenAt: r.FirstSeenAt.UTC(), FirstRunID: r.FirstRunID, LastSeenAt: r.LastSeenAt.UTC(),
		LastRunID: r.LastRunID, OpenSince: r.OpenSince.UTC(), ClosedAt: utcPtr(r.ClosedAt), ClosedRunID: r.ClosedRunID,
		ReopenedCount: r.ReopenedCount, ReopenedAt: utcPtr(r.ReopenedAt)}
	if r.AckedAt.Valid {
		e.Ack = &reconcile.Ack{At: r.AckedAt.Time.UTC(), By: r.AckedBy, Note: r.Note}
	}
	return e
}

// streamExceptions runs q, a statement of exception rows, on db and calls fn
// for each row; dbErr wraps the database's errors, fn's are returned as they
// are.
func streamExceptions(ctx context.Context, db *sqlx.DB, dbErr func(error) error, fn func(reconcile.Exception) error, q string, args ...any) error {
	rows, err := db.QueryxContext(ctx, q, args...)
	if err != nil {
		return dbErr(err)
	}
	defer rows.Close()
	for rows.Next() {
		var r exceptionRow
		if err := rows.StructScan(&r); err != nil {
			return dbErr(err)
		}
		if err := fn(r.exception()); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return dbErr(err)
	}
	return nil
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
	err := streamExceptions(ctx, s.db, func(err error) error { return fmt.Errorf("list exceptions: %w", translate(err)) },
		func(e reconcile.Exception) error { return fn(e, now) },
		qExceptionsList, f.State, string(f.Kind), f.OlderThan.Seconds())
	return now, err
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
	var out []reconcile.Exception
	err := streamExceptions(ctx, s.read, func(err error) error { return fmt.Errorf("read exceptions: %w", s.readErr(err)) },
		func(e reconcile.Exception) error { out = append(out, e); return nil },
		qExceptionsOf, pq.Array(ids), pq.Array(comps), pq.Array(kinds))
	return out, err
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
	var rows []exceptionRow
	if err := s.db.SelectContext(ctx, &rows, qExceptionsOf, pq.Array([]int64{proposal}), pq.Array([]string{string(c)}), pq.Array([]string{pick.Kind})); err != nil {
		return reconcile.Exception{}, fmt.Errorf("read exception %s: %w", key, translate(err))
	}
	if len(rows) != 1 {
		return reconcile.Exception{}, fmt.Errorf("read exception %s: %d rows, want 1", key, len(rows))
	}
	return rows[0].exception(), nil
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
