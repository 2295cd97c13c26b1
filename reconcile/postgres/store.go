package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"database/sql/driver"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"go.uber.org/zap"

	"github.com/connects/connects-reconciler/reconcile"
)

// Store implements reconcile.Store on PostgreSQL.
type Store struct {
	db  *sqlx.DB
	log *zap.Logger
}

// NewStore returns a Store over db.
func NewStore(db *sqlx.DB, log *zap.Logger) *Store {
	return &Store{db: db, log: log.Named("postgres")}
}

var _ reconcile.Store = (*Store)(nil)

// Snapshot reads the database clock and splits the proposal-id space into
// ranges of scope.BatchSize ids.
func (s *Store) Snapshot(ctx context.Context, scope reconcile.Scope) (reconcile.Snapshot, error) {
	var row struct {
		Lo  int64     `db:"lo"`
		Hi  int64     `db:"hi"`
		Now time.Time `db:"now"`
	}
	if err := s.db.GetContext(ctx, &row, qBounds); err != nil {
		return reconcile.Snapshot{}, fmt.Errorf("read proposal bounds: %w", translate(err))
	}
	size := scope.BatchSize
	if size <= 0 {
		size = 50000
	}
	snap := reconcile.Snapshot{Now: row.Now.UTC()}
	if row.Hi == 0 && row.Lo == 0 {
		return snap, nil
	}
	for lo := row.Lo; lo <= row.Hi; lo += size {
		snap.Slices = append(snap.Slices, reconcile.Slice{Lo: lo, Hi: min(lo+size, row.Hi+1)})
	}
	return snap, nil
}

type findingRow struct {
	ProposalID   int64      `db:"proposal_id"`
	JobID        int64      `db:"job_id"`
	FreelancerID int64      `db:"freelancer_id"`
	Component    string     `db:"component"`
	Rule         string     `db:"rule"`
	Charged      int64      `db:"charged"`
	Refunded     int64      `db:"refunded"`
	EventAt      *time.Time `db:"event_at"`
	Class        string     `db:"class"`
}

// PlanSlice evaluates the policy for one proposal-id range.
func (s *Store) PlanSlice(ctx context.Context, p reconcile.Policy, cutoff time.Time, sl reconcile.Slice) ([]reconcile.Finding, error) {
	args := append(policyArgs(p, cutoff), sl.Lo, sl.Hi)
	rows, err := s.db.QueryxContext(ctx, qPlanRange, args...)
	if err != nil {
		return nil, fmt.Errorf("plan: %w", translate(err))
	}
	defer rows.Close()
	var out []reconcile.Finding
	for rows.Next() {
		var r findingRow
		if err := rows.StructScan(&r); err != nil {
			return nil, fmt.Errorf("plan: %w", translate(err))
		}
		out = append(out, reconcile.Finding{
			ProposalID: r.ProposalID, JobID: r.JobID, FreelancerID: r.FreelancerID,
			Component: reconcile.Component(r.Component), Rule: reconcile.Rule(r.Rule),
			Charged: r.Charged, Refunded: r.Refunded, EventAt: r.EventAt, Class: reconcile.Class(r.Class),
		})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("plan: %w", translate(err))
	}
	return out, nil
}

// lockID turns a lock name into an advisory lock key.
func lockID(key string) int64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	return int64(h.Sum64())
}

// Lock takes a session-level advisory lock on a connection of its own, kept
// until release is called. Should that connection die, PostgreSQL frees the
// lock: the unique refund index still makes a double credit impossible.
func (s *Store) Lock(ctx context.Context, key string) (func(), error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", translate(err))
	}
	var ok bool
	if err := conn.QueryRowContext(ctx, qTryLock, lockID(key)).Scan(&ok); err != nil {
		conn.Close()
		return nil, fmt.Errorf("lock: %w", translate(err))
	}
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("%w %q", reconcile.ErrLocked, key)
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var released bool
		if err := conn.QueryRowContext(ctx, qUnlock, lockID(key)).Scan(&released); err != nil {
			s.log.Warn("release lock; the connection's end frees it", zap.String("lock", key), zap.Error(err))
			// The connection goes back broken; closing it drops the session lock.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
	}, nil
}

// StartRun records a run as running, and marks runs of the same shard that
// died without an outcome as abandoned.
func (s *Store) StartRun(ctx context.Context, r reconcile.RunRecord) error {
	policy, err := json.Marshal(r.Policy)
	if err != nil {
		return fmt.Errorf("encode policy: %w", err)
	}
	kinds, err := json.Marshal(r.Planned.DiscrepanciesByKind)
	if err != nil {
		return fmt.Errorf("encode discrepancies: %w", err)
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("start run: %w", translate(err))
	}
	defer tx.Rollback()
	n, err := execRows(ctx, tx, qAbandon, r.Shard, r.ID)
	if err != nil {
		return fmt.Errorf("close abandoned runs: %w", translate(err))
	}
	if n > 0 {
		s.log.Warn("closed records of runs that ended without an outcome", zap.Int64("runs", n))
	}
	if _, err := tx.ExecContext(ctx, qStartRun, r.ID, r.Mode, r.Scope, r.Shard, r.AsOf, r.SettleCutoff,
		string(policy), r.Planned.Refunds, r.Planned.Connects, r.Planned.Discrepancies, string(kinds)); err != nil {
		return fmt.Errorf("start run: %w", translate(err))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("start run: %w", translate(err))
	}
	return nil
}

func execRows(ctx context.Context, tx *sqlx.Tx, q string, args ...any) (int64, error) {
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

type appliedRow struct {
	LedgerEntryID    int64  `db:"ledger_entry_id"`
	ProposalID       int64  `db:"proposal_id"`
	JobID            int64  `db:"job_id"`
	FreelancerID     int64  `db:"freelancer_id"`
	Component        string `db:"component"`
	Rule             string `db:"rule"`
	Connects         int64  `db:"connects"`
	BalancesUpdated  int64  `db:"balances_updated"`
	BalancesExpected int64  `db:"balances_expected"`
	RunsUpdated      int64  `db:"runs_updated"`
}

// Apply writes one batch in one transaction and one statement.
func (s *Store) Apply(ctx context.Context, runID string, p reconcile.Policy, cutoff time.Time, refunds []reconcile.Refund) ([]reconcile.Refund, error) {
	ids := make([]int64, len(refunds))
	comps := make([]string, len(refunds))
	amounts := make([]int64, len(refunds))
	for i, r := range refunds {
		ids[i], comps[i], amounts[i] = r.ProposalID, string(r.Component), r.Connects
	}
	args := append(policyArgs(p, cutoff), pq.Array(ids), pq.Array(comps), pq.Array(amounts), runID)

	tx, err := s.db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return nil, fmt.Errorf("apply: %w", translate(err))
	}
	defer tx.Rollback()
	var rows []appliedRow
	if err := tx.SelectContext(ctx, &rows, qApply, args...); err != nil {
		return nil, fmt.Errorf("apply: %w", translate(err))
	}
	if len(rows) > 0 {
		// Every account credited must have had its balance moved, in this
		// very transaction; otherwise nothing of the batch is kept.
		if rows[0].BalancesUpdated != rows[0].BalancesExpected {
			return nil, fmt.Errorf("apply: %d of %d balances updated; batch rolled back", rows[0].BalancesUpdated, rows[0].BalancesExpected)
		}
		if rows[0].RunsUpdated != 1 {
			return nil, fmt.Errorf("apply: run %s is not recorded; batch rolled back", runID)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("apply commit: %w", translate(err))
	}
	out := make([]reconcile.Refund, len(rows))
	for i, r := range rows {
		out[i] = reconcile.Refund{
			ProposalID: r.ProposalID, FreelancerID: r.FreelancerID, JobID: r.JobID,
			Component: reconcile.Component(r.Component), Connects: r.Connects,
			Rule: reconcile.Rule(r.Rule), LedgerEntryID: r.LedgerEntryID,
		}
	}
	return out, nil
}

// FinishRun closes a run record.
func (s *Store) FinishRun(ctx context.Context, runID string, o reconcile.Outcome) error {
	if _, err := s.db.ExecContext(ctx, qFinishRun, runID, o.Status, o.Error, o.Skipped); err != nil {
		return translate(err)
	}
	return nil
}
