package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"go.uber.org/zap"

	"github.com/connects/connects-reconciler/reconcile"
)

// Store implements reconcile.Store on PostgreSQL.
type Store struct {
	db *sqlx.DB // the primary: every write, the lock, run records, watermarks, seen events
	// read is where planning, dry runs, exports, reports and explain read
	// the marketplace: a hot standby when one is configured, else db.
	read    *sqlx.DB
	replica string // the standby's DSN, redacted, for messages; "" when none
	log     *zap.Logger
	// beatEvery and lockIdle override HeartbeatEvery and LockSessionIdle
	// (tests); zero: the defaults.
	beatEvery, lockIdle time.Duration
	// lockLost is set when the session holding the run lock ended under
	// the run (the server ended a frozen holder's idle session): Apply
	// refuses from then on, since another run may hold the lock.
	lockLost *atomic.Pointer[error]
}

// NewStore returns a Store over db.
func NewStore(db *sqlx.DB, log *zap.Logger) *Store {
	return &Store{db: db, read: db, log: log.Named("postgres"), lockLost: new(atomic.Pointer[error])}
}

var _ reconcile.ReplicaStore = (*Store)(nil)

var _ reconcile.Store = (*Store)(nil)

// Clock reads the database's clock: the primary's, or with a replica the
// time its reads are complete to (see ReadsUntil).
func (s *Store) Clock(ctx context.Context) (time.Time, error) {
	if s.replica != "" {
		return s.ReadsUntil(ctx)
	}
	var now time.Time
	if err := s.db.GetContext(ctx, &now, qClock); err != nil {
		return time.Time{}, fmt.Errorf("read clock: %w", translate(err))
	}
	return now.UTC(), nil
}

// Watermarks returns the shard's watermark per event source.
func (s *Store) Watermarks(ctx context.Context, shard reconcile.Shard) (map[string]time.Time, error) {
	var rows []struct {
		Source    string    `db:"source"`
		Watermark time.Time `db:"watermark"`
	}
	if err := s.db.SelectContext(ctx, &rows, qWatermarks, shard.String()); err != nil {
		return nil, fmt.Errorf("read watermarks: %w", translate(err))
	}
	out := map[string]time.Time{}
	for _, r := range rows {
		out[r.Source] = r.Watermark.UTC()
	}
	return out, nil
}

// Bounds of an incremental planning slice, in changed proposals.
const (
	maxIDsPerSlice = 10000
	minIDsPerSlice = 500
)

// incrementalSlices cuts an incremental run's changed proposals into
// planning slices: as few as the parallel planners allow, since each slice
// costs a planning of the policy statement whatever its size (5-18 ms, a
// third of a 1,359-id slice's time at 1M), so a multiple of workers (a
// slice is planned on one core, and equal slices finish together), each of
// at most maxIDsPerSlice ids and no fewer than minIDsPerSlice. The ids come
// from changed_proposals.sql unordered, a boosted proposal of a closed job
// whose auction ended twice: they are sorted and each kept once, so that no
// proposal is planned by two slices.
func incrementalSlices(ids []int64, workers int) []reconcile.Slice {
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) == 0 {
		return nil
	}
	workers = max(workers, 1)
	n := workers * ((len(ids) + workers*maxIDsPerSlice - 1) / (workers * maxIDsPerSlice))
	n = max(1, min(n, len(ids)/minIDsPerSlice))
	out := make([]reconcile.Slice, 0, n)
	for i := range n {
		out = append(out, reconcile.Slice{IDs: ids[i*len(ids)/n : (i+1)*len(ids)/n]})
	}
	return out
}

// slicedIDs counts the ids of incremental slices.
func slicedIDs(sl []reconcile.Slice) int {
	n := 0
	for _, s := range sl {
		n += len(s.IDs)
	}
	return n
}

// Slices splits a full sweep into proposal-id ranges of scope.BatchSize
// proposals each, and an incremental run into lists of the changed
// proposals' ids; with them, the events they were found by.
func (s *Store) Slices(ctx context.Context, scope reconcile.Scope) ([]reconcile.Slice, []reconcile.Event, error) {
	if scope.Incremental() {
		t0 := time.Now()
		events, err := s.events(ctx, scope.Since[reconcile.SourceJobClosures], scope.Since[reconcile.SourceAuctionEnds],
			scope.Until, scope.Shard.String())
		if err != nil {
			return nil, nil, err
		}
		var closed, ended []int64
		for _, e := range events {
			if e.Source == reconcile.SourceJobClosures {
				closed = append(closed, e.JobID)
			} else {
				ended = append(ended, e.JobID)
			}
		}
		tEvents := time.Since(t0)
		var ids []int64
		if len(events) > 0 {
			if err := s.read.SelectContext(ctx, &ids, qChanged, pq.Array(closed), pq.Array(ended)); err != nil {
				return nil, nil, fmt.Errorf("find changed proposals: %w", s.readErr(err))
			}
		}
		out := incrementalSlices(ids, scope.Parallel)
		s.log.Info("changed proposals", zap.Int("events", len(events)), zap.Int("proposals", slicedIDs(out)),
			zap.Int("slices", len(out)), zap.Duration("events_took", tEvents), zap.Duration("took", time.Since(t0)))
		return out, events, nil
	}
	// The events of the last lookback, read before any slice is planned: all
	// of them are planned by the slices that follow.
	since := scope.Until.Add(-scope.Lookback)
	events, err := s.events(ctx, since, since, scope.Until, noShard)
	if err != nil {
		return nil, nil, err
	}
	var b struct {
		Lo int64 `db:"lo"`
		Hi int64 `db:"hi"`
	}
	if err := s.read.GetContext(ctx, &b, qBounds); err != nil {
		return nil, nil, fmt.Errorf("read proposal bounds: %w", s.readErr(err))
	}
	size := scope.BatchSize
	if size <= 0 {
		size = 50000
	}
	if b.Hi < b.Lo {
		return nil, events, nil
	}
	var out []reconcile.Slice
	for lo := b.Lo; ; {
		var next int64
		err := s.read.GetContext(ctx, &next, qNextBoundary, lo, size)
		if errors.Is(err, sql.ErrNoRows) {
			return append(out, reconcile.Slice{Lo: lo, Hi: b.Hi + 1}), events, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("split proposals into slices: %w", s.readErr(err))
		}
		out = append(out, reconcile.Slice{Lo: lo, Hi: next})
		lo = next
	}
}

// noShard names no shard: changed_events.sql subtracts no seen events.
const noShard = "-"

// events reads the events of the windows (closuresSince, until) and
// (endsSince, until) not yet seen by the shard.
func (s *Store) events(ctx context.Context, closuresSince, endsSince, until time.Time, shard string) ([]reconcile.Event, error) {
	var rows []struct {
		Source  string    `db:"source"`
		JobID   int64     `db:"job_id"`
		EventAt time.Time `db:"event_at"`
	}
	// On a standby the seen events may lag what the primary recorded: they
	// are read from the primary and subtracted here instead.
	subtract := shard
	if s.replica != "" {
		subtract = noShard
	}
	if err := s.read.SelectContext(ctx, &rows, qChangedEvents, closuresSince, endsSince, until, subtract); err != nil {
		return nil, fmt.Errorf("find changed events: %w", s.readErr(err))
	}
	seen := map[reconcile.Event]bool{}
	if s.replica != "" && shard != noShard && len(rows) > 0 {
		var seenRows []struct {
			Source  string    `db:"source"`
			JobID   int64     `db:"job_id"`
			EventAt time.Time `db:"event_at"`
		}
		if err := s.db.SelectContext(ctx, &seenRows, qSeenEvents, shard, earlier(closuresSince, endsSince)); err != nil {
			return nil, fmt.Errorf("read seen events: %w", translate(err))
		}
		for _, r := range seenRows {
			seen[reconcile.Event{Source: r.Source, JobID: r.JobID, At: r.EventAt.UTC()}] = true
		}
	}
	out := make([]reconcile.Event, 0, len(rows))
	for _, r := range rows {
		if e := (reconcile.Event{Source: r.Source, JobID: r.JobID, At: r.EventAt.UTC()}); !seen[e] {
			out = append(out, e)
		}
	}
	return out, nil
}

// planRow is a row of plan.sql. Names are scanned as bytes and interned: a
// slice of a backlog, or of a first sweep's matches, has tens of thousands
// of rows, and each would allocate three strings.
type planRow struct {
	ProposalID   int64        `db:"proposal_id"`
	JobID        int64        `db:"job_id"`
	FreelancerID int64        `db:"freelancer_id"`
	Component    []byte       `db:"component"`
	Rule         []byte       `db:"rule"`
	Charged      int64        `db:"charged"`
	Refunded     int64        `db:"refunded"`
	RefundedTo   int64        `db:"refunded_to"`
	EventAt      sql.NullTime `db:"event_at"`
	Class        []byte       `db:"class"`
	MatchEntryID int64        `db:"match_entry_id"`
	MatchEntryAt sql.NullTime `db:"match_entry_at"`
}

func (r *planRow) verdict() reconcile.Verdict {
	f := reconcile.Verdict{ProposalID: r.ProposalID, JobID: r.JobID, FreelancerID: r.FreelancerID,
		Component: reconcile.Component(reconcile.Intern(r.Component)), Rule: reconcile.Rule(reconcile.Intern(r.Rule)),
		Charged: r.Charged, Refunded: r.Refunded, RefundedTo: r.RefundedTo,
		State: reconcile.State(reconcile.Intern(r.Class)), MatchEntryID: r.MatchEntryID}
	if r.EventAt.Valid {
		t := r.EventAt.Time.UTC()
		f.EventAt = &t
	}
	if r.MatchEntryAt.Valid {
		f.MatchEntryAt = r.MatchEntryAt.Time.UTC()
	}
	return f
}

// PlanSlice evaluates the policy for one slice; with matches, it also
// returns the slice's settled refund entries no run has matched, with the
// verdict on their component (plan.sql).
func (s *Store) PlanSlice(ctx context.Context, p reconcile.Policy, cutoff time.Time, shard reconcile.Shard, sl reconcile.Slice, matches bool) ([]reconcile.Verdict, error) {
	q := statement("plan.sql", filter{kind: byRange.kind, shard: shard, matches: matches})
	args := append(policyArgs(p, cutoff), sl.Lo, sl.Hi)
	if sl.IDs != nil {
		q = statement("plan.sql", filter{kind: byIDs.kind, shard: shard, matches: matches})
		args = append(policyArgs(p, cutoff), pq.Array(sl.IDs))
	}
	t0 := time.Now()
	rows, err := s.read.QueryxContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("plan: %w", s.readErr(err))
	}
	defer rows.Close()
	defer func() {
		s.log.Debug("slice planned", zap.Int64("lo", sl.Lo), zap.Int64("hi", sl.Hi), zap.Int("ids", len(sl.IDs)),
			zap.Duration("took", time.Since(t0)))
	}()
	var out []reconcile.Verdict
	var r planRow
	for rows.Next() {
		if err := rows.StructScan(&r); err != nil {
			return nil, fmt.Errorf("plan: %w", s.readErr(err))
		}
		out = append(out, r.verdict())
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("plan: %w", s.readErr(err))
	}
	return out, nil
}

// HistoryMatched reports, from the primary, whether a full sweep covering
// the shard ever succeeded (history_matched.sql).
func (s *Store) HistoryMatched(ctx context.Context, shard reconcile.Shard) (bool, error) {
	var matched bool
	if err := s.db.GetContext(ctx, &matched, qHistoryMatched, shard.String()); err != nil {
		return false, fmt.Errorf("read whether the history is matched: %w", translate(err))
	}
	return matched, nil
}

var qHistoryMatched = query("history_matched.sql")

// lockID turns a lock name into an advisory lock key.
func lockID(key string) int64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	return int64(h.Sum64())
}

// Lock takes a session-level advisory lock on a connection of its own, kept
// until release is called. Should that connection die, PostgreSQL frees the
// lock: the unique refund index still makes a double credit impossible.
//
// While it holds the lock, the session beats a heartbeat every minute
// (lock_heartbeat.sql), which a run that finds the lock taken reports as the
// holder's silence (RunningAge), and it has idle_session_timeout set: a
// holder that stops beating (a frozen node, a dead pod whose session the
// server still keeps) loses its session, and the lock, within minutes. A
// holder that resumes after that finds its session gone at its next beat,
// and Apply refuses from then on.
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
	s.lockLost.Store(nil)
	hb, err := s.startHeartbeat(ctx, conn, key)
	if err != nil {
		// Closing the session drops the lock it just took.
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		conn.Close()
		return nil, fmt.Errorf("lock: %w", err)
	}
	return func() {
		hb.stop()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(ctx, qLockHeartbeatEnd, key); err != nil {
			s.log.Warn("remove the lock's heartbeat; the next holder overwrites it", zap.String("lock", key), zap.Error(err))
		}
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
	if _, err := tx.ExecContext(ctx, qStartRun, r.ID, r.Mode, r.Shard, string(policy)); err != nil {
		return fmt.Errorf("start run: %w", translate(err))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("start run: %w", translate(err))
	}
	return nil
}

// RecordPlan adds the plan's scope, clock and totals to the run record.
func (s *Store) RecordPlan(ctx context.Context, runID string, p *reconcile.Plan) error {
	t := p.Totals()
	kinds, err := json.Marshal(t.DiscrepanciesByKind)
	if err != nil {
		return fmt.Errorf("encode discrepancies: %w", err)
	}
	plannedOn := p.PlannedOn
	if plannedOn == "" {
		plannedOn = reconcile.OnPrimary
	}
	if _, err := s.db.ExecContext(ctx, qRecordPlan, runID, p.Scope, p.AsOf, p.SettleCutoff,
		t.Refunds, t.Connects, t.Discrepancies, string(kinds), plannedOn, p.ReplicaLag.Seconds()); err != nil {
		return translate(err)
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
	LedgerEntryID int64  `db:"ledger_entry_id"`
	FreelancerID  int64  `db:"freelancer_id"`
	ProposalID    int64  `db:"proposal_id"`
	Component     string `db:"component"`
	Connects      int64  `db:"connects"`
	Inserted      bool   `db:"inserted"`
}

// Apply writes one batch in one transaction: apply.sql inserts the refunds
// still owed, apply_audit.sql records them and moves the run's counters, and
// apply_balances.sql moves the balances last, so their rows stay locked only
// until the commit. With o.LockTimeout every lock wait of the transaction on
// a row the marketplace may hold is bounded by it (a timeout is transient:
// the batch is retried); apply_audit.sql waits for the run's record (another
// apply worker's batch moving its counters) under the session's lock_timeout.
// Unless o.Wait, a balance row another transaction holds is skipped, and the
// batch rolled back with a *reconcile.ContendedError naming the refunds it
// held up. apply.sql answers in the batch's order (proposal, component), so
// its rows are given their index in the batch by walking both at once.
func (s *Store) Apply(ctx context.Context, runID string, p reconcile.Policy, cutoff time.Time, batch []reconcile.Verdict, o reconcile.ApplyOptions) ([]reconcile.Written, error) {
	if lost := s.lockLost.Load(); lost != nil {
		return nil, *lost
	}
	ids := make([]int64, len(batch))
	comps := make([]string, len(batch))
	amounts := make([]int64, len(batch))
	rules := make([]string, len(batch))
	for i, v := range batch {
		ids[i], comps[i], amounts[i], rules[i] = v.ProposalID, string(v.Component), v.Charged, string(v.Rule)
	}
	args := append(policyArgs(p, cutoff), pq.Array(ids), pq.Array(comps), pq.Array(amounts), pq.Array(rules), runID)

	tx, err := s.db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return nil, fmt.Errorf("apply: %w", translate(err))
	}
	defer tx.Rollback()
	if o.LockTimeout > 0 {
		if _, err := tx.ExecContext(ctx, qApplyLock, strconv.FormatInt(max(1, o.LockTimeout.Milliseconds()), 10)); err != nil {
			return nil, fmt.Errorf("apply: set lock_timeout: %w", translate(err))
		}
	}
	var rows []appliedRow
	if err := tx.SelectContext(ctx, &rows, statement("apply.sql", byIDs), args...); err != nil {
		return nil, fmt.Errorf("apply: %w", applyErr(err))
	}
	out := make([]reconcile.Written, 0, len(rows))
	var audit auditRows
	credit := map[int64]int64{} // account -> Connects inserted now
	i := 0
	for _, r := range rows {
		for i < len(batch) && (batch[i].ProposalID != r.ProposalID || string(batch[i].Component) != r.Component) {
			i++
		}
		if i == len(batch) {
			return nil, fmt.Errorf("apply: wrote refund:%d:%s, which is not in the batch (or not in its order); batch rolled back", r.ProposalID, r.Component)
		}
		if v := batch[i]; r.FreelancerID != v.FreelancerID || r.Connects != v.Charged {
			return nil, fmt.Errorf("apply: refund:%d:%s credits %d Connects to account %d, the plan %d to account %d; batch rolled back",
				r.ProposalID, r.Component, r.Connects, r.FreelancerID, v.Charged, v.FreelancerID)
		}
		out = append(out, reconcile.Written{Index: i, LedgerEntryID: r.LedgerEntryID})
		if r.Inserted {
			audit.add(i, batch[i], r.LedgerEntryID)
			credit[r.FreelancerID] += r.Connects
		}
		i++
	}
	if len(audit.entries) > 0 {
		if o.LockTimeout > 0 {
			if _, err := tx.ExecContext(ctx, qApplyLockDefault); err != nil {
				return nil, fmt.Errorf("apply: reset lock_timeout: %w", translate(err))
			}
		}
		var n int64
		err := tx.GetContext(ctx, &n, qApplyAudit, runID, pq.Array(audit.entries), pq.Array(audit.proposals), pq.Array(audit.jobs),
			pq.Array(audit.accounts), pq.Array(audit.components), pq.Array(audit.rules), pq.Array(audit.connects))
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("apply: run %s is not recorded; batch rolled back", runID)
		}
		if err != nil {
			return nil, fmt.Errorf("apply audit: %w", applyErr(err))
		}
	}
	if len(credit) > 0 {
		accounts := slices.Sorted(maps.Keys(credit))
		sums := make([]int64, len(accounts))
		for i, a := range accounts {
			sums[i] = credit[a]
		}
		if o.LockTimeout > 0 {
			if _, err := tx.ExecContext(ctx, qApplyLock, strconv.FormatInt(max(1, o.LockTimeout.Milliseconds()), 10)); err != nil {
				return nil, fmt.Errorf("apply: set lock_timeout: %w", translate(err))
			}
		}
		q := qApplyBalances
		if o.Wait {
			q = qApplyBalancesWait
		}
		var moved []int64
		if err := tx.SelectContext(ctx, &moved, q, pq.Array(accounts), pq.Array(sums)); err != nil {
			return nil, fmt.Errorf("apply balances: %w", applyErr(err))
		}
		if len(moved) != len(accounts) {
			// Every account credited must have had its balance moved, in
			// this very transaction; otherwise nothing of the batch is kept.
			if o.Wait {
				return nil, fmt.Errorf("apply: %d of %d balances updated; batch rolled back", len(moved), len(accounts))
			}
			return nil, contended(accounts, moved, audit)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("apply commit: %w", translate(err))
	}
	return out, nil
}

// contended names the accounts whose balance rows were skipped, and the
// refunds inserted for them, by their index in the batch.
func contended(accounts, moved []int64, audit auditRows) *reconcile.ContendedError {
	got := make(map[int64]bool, len(moved))
	for _, a := range moved {
		got[a] = true
	}
	e := &reconcile.ContendedError{}
	for _, a := range accounts {
		if !got[a] {
			e.Accounts = append(e.Accounts, a)
		}
	}
	for i, a := range audit.accounts {
		if !got[a] {
			e.Held = append(e.Held, audit.index[i])
		}
	}
	return e
}

// applyErr translates an error of an apply statement: a lock timeout there
// (a balance row or a refund key another transaction holds) is transient,
// the batch is retried.
func applyErr(err error) error {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && pqErr.Code == "55P03" {
		return fmt.Errorf("%w: %w", reconcile.ErrTransient, err)
	}
	return translate(err)
}

// auditRows are the parallel arrays apply_audit.sql takes, and each row's
// index in the batch.
type auditRows struct {
	entries, proposals, jobs, accounts, connects []int64
	components, rules                            []string
	index                                        []int
}

func (a *auditRows) add(i int, v reconcile.Verdict, entry int64) {
	a.entries = append(a.entries, entry)
	a.proposals = append(a.proposals, v.ProposalID)
	a.jobs = append(a.jobs, v.JobID)
	a.accounts = append(a.accounts, v.FreelancerID)
	a.connects = append(a.connects, v.Charged)
	a.components = append(a.components, string(v.Component))
	a.rules = append(a.rules, string(v.Rule))
	a.index = append(a.index, i)
}

// FinishRun closes a run record and, on success, moves the watermarks in the
// same transaction; a full sweep's record (o.Sweep) goes in that transaction
// too.
func (s *Store) FinishRun(ctx context.Context, runID string, shard reconcile.Shard, o reconcile.Outcome) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return translate(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, qFinishRun, runID, o.Status, o.Error, o.Skipped); err != nil {
		return translate(err)
	}
	if o.Watermark != nil {
		for _, src := range reconcile.Sources {
			if _, err := tx.ExecContext(ctx, qSaveWatermark, shard.String(), src, *o.Watermark, runID); err != nil {
				return fmt.Errorf("save watermark: %w", translate(err))
			}
		}
		sources := make([]string, len(o.Seen))
		jobs := make([]int64, len(o.Seen))
		times := make([]string, len(o.Seen)) // timestamptz text, exact to the microsecond
		for i, e := range o.Seen {
			sources[i], jobs[i], times[i] = e.Source, e.JobID, e.At.UTC().Format(time.RFC3339Nano)
		}
		if _, err := tx.ExecContext(ctx, qSaveSeen, shard.String(), runID, o.Forget,
			pq.Array(sources), pq.Array(jobs), pq.Array(times)); err != nil {
			return fmt.Errorf("save seen events: %w", translate(err))
		}
	}
	if o.Sweep != nil {
		if err := recordSweep(ctx, tx, runID, shard, o.Sweep); err != nil {
			return fmt.Errorf("record sweep: %w", err)
		}
	}
	return translate(tx.Commit())
}
