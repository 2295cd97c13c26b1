package reconcile

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Slice is one planning batch: a range of proposal ids for a full sweep, or
// the ids themselves for an incremental run.
type Slice struct {
	Lo, Hi int64   // proposal ids in [Lo, Hi), when IDs is nil
	IDs    []int64 // the proposals, in order
}

// Event sources of incremental runs, each with its own watermark.
const (
	SourceJobClosures = "job_closures" // jobs.closed_at: closures and removals
	SourceAuctionEnds = "auction_ends" // boost_auctions.ended_at
)

// Sources lists the event sources.
var Sources = []string{SourceJobClosures, SourceAuctionEnds}

// Event is one job closure or auction end a run plans for.
type Event struct {
	Source string
	JobID  int64
	At     time.Time
}

// Scope says which proposals a run plans.
type Scope struct {
	// BatchSize is how many proposals one planning slice covers.
	BatchSize int64
	// Shard limits the run to one shard's accounts.
	Shard Shard
	// Since, when set, makes the run incremental: only proposals touched by an
	// event of each source after Since[source] and before Until.
	Since map[string]time.Time
	// Until is the settle cutoff.
	Until time.Time
	// Parallel is how many slices are planned at once: an incremental run
	// cuts its changed proposals into a multiple of it.
	Parallel int
	// Lookback is how far before a watermark rows may still appear (they
	// were committed later than their timestamp says). A full sweep reports
	// the events of its last Lookback, so that the next incremental run does
	// not plan them again.
	Lookback time.Duration
}

// Incremental reports whether the scope covers only what changed.
func (s Scope) Incremental() bool { return s.Since != nil }

// Name is "incremental" or "full".
func (s Scope) Name() string {
	if s.Incremental() {
		return "incremental"
	}
	return "full"
}

// RunRecord is an applying run as it is recorded once it holds the lock,
// before it plans.
type RunRecord struct {
	ID     string
	Mode   string // "run" or "plan" (a reviewed plan file)
	Shard  string
	Policy Policy
}

// Run statuses.
const (
	StatusRunning     = "running"
	StatusSucceeded   = "succeeded"
	StatusFailed      = "failed"
	StatusRefused     = "refused"
	StatusInterrupted = "interrupted"
)

// Outcome closes a run record.
type Outcome struct {
	Status  string
	Error   string
	Skipped int64
	// Watermark, set on success, is where the next incremental run starts.
	Watermark *time.Time
	// Seen, with Watermark, are the events the run planned that are still
	// inside the lookback of the new watermark; events at or before Forget
	// are no longer needed.
	Seen   []Event
	Forget time.Time
	// Sweep, set when a full sweep recorded its exceptions (it succeeded or
	// was refused), is what its plan found per state: it is recorded with
	// the run's outcome, in the same transaction, for finance to read
	// instead of planning again (see SweepRecord).
	Sweep map[State]StateTotal
}

// Store is what the run loop needs from storage. Implementations translate
// driver errors: transient ones wrap ErrTransient, lock contention is ErrLocked.
type Store interface {
	// Clock reads the database's clock.
	Clock(ctx context.Context) (time.Time, error)
	// Watermarks returns the shard's watermark per event source.
	Watermarks(ctx context.Context, shard Shard) (map[string]time.Time, error)
	// Slices splits the scope's proposals into planning slices, and returns
	// the events they were found by: for an incremental run those of its
	// windows not seen by an earlier run, for a full sweep those of its last
	// Lookback.
	Slices(ctx context.Context, scope Scope) ([]Slice, []Event, error)
	// PlanSlice returns every verdict in one slice for the shard; with
	// matches, also the slice's settled refund entries no run has matched
	// (Verdict.MatchEntryID). It writes nothing.
	PlanSlice(ctx context.Context, p Policy, cutoff time.Time, shard Shard, s Slice, matches bool) ([]Verdict, error)
	// HistoryMatched reports whether a full sweep covering the shard ever
	// succeeded: it matched every settled refund entry it saw.
	HistoryMatched(ctx context.Context, shard Shard) (bool, error)
	// Lock takes the run lock named key, or returns ErrLocked at once.
	Lock(ctx context.Context, key string) (release func(), err error)
	// StartRun records a run and closes the records of runs that died holding
	// the same lock.
	StartRun(ctx context.Context, r RunRecord) error
	// RecordPlan adds the plan's scope, clock and totals to a run record.
	RecordPlan(ctx context.Context, runID string, p *Plan) error
	// Apply writes the batch's refunds (verdicts of state missing_refund,
	// in proposal, component order) that are still owed, with their balance
	// changes, audit rows and the run's counters, in one transaction, and
	// returns those in the ledger once it committed, by their index in the
	// batch, in order. Unless o.Wait, a balance row another transaction
	// holds is not waited for: the transaction is rolled back and Apply
	// returns a *ContendedError naming the refunds it held up.
	Apply(ctx context.Context, runID string, p Policy, cutoff time.Time, batch []Verdict, o ApplyOptions) ([]Written, error)
	// FinishRun closes a run record; with o.Watermark set it also moves the
	// shard's watermarks, and with o.Sweep set it records the sweep (its
	// totals per state, the open exceptions of its shard by age), in the
	// same transaction.
	FinishRun(ctx context.Context, runID string, shard Shard, o Outcome) error
	// RecordExceptions keeps the plan's discrepancies as exceptions, in one
	// transaction: new ones are opened, known ones refreshed (and reopened
	// when closed); a full sweep also closes the open exceptions of its
	// shard it did not find. It reads the plan's spool once. In the same
	// transaction it matches the settled refund entries of the ledger no run
	// matched yet (see Plan.MatchFrom), so a run that dies leaves no match.
	RecordExceptions(ctx context.Context, runID string, p *Plan) (ExceptionsRecorded, error)
}

// Options tune the run loop.
type Options struct {
	// BatchSize is how many proposals one planning statement of a full sweep covers.
	BatchSize int64
	// ApplyBatchSize is the most refunds one transaction writes.
	ApplyBatchSize int
	// ApplyBatchTime is the time one apply transaction should take: each
	// batch is sized from how long the previous ones took per refund, up to
	// ApplyBatchSize (0: every batch is ApplyBatchSize).
	ApplyBatchTime time.Duration
	// ApplyLockTimeout is the longest an apply transaction waits for a row
	// lock another transaction holds (0: the session's lock_timeout).
	ApplyLockTimeout time.Duration
	// ApplyMaxReplicaLag pauses the apply while the read replica has
	// replayed less than this far behind the primary (0: never pauses).
	ApplyMaxReplicaLag time.Duration
	// Parallel is how many slices are planned at once, and how many apply
	// workers write at once (the accounts split between them by id), each on
	// a connection of its own (PostgreSQL runs one statement on one core).
	Parallel int
	// Retries is how many times a batch is retried after a transient error.
	Retries int
	// RetryBackoff is the first wait between retries; it doubles each time.
	RetryBackoff time.Duration
	// Shard limits runs to one shard's accounts; each shard has its own lock
	// and watermarks.
	Shard Shard
	// Full makes every run a full sweep; otherwise a run after a successful
	// one reconciles only what changed since its watermark.
	Full bool
	// Lookback widens each incremental window backwards, for rows committed
	// later than their timestamp says.
	Lookback time.Duration
	// MaxReplicaLag fails a run planning on a replica that is further behind
	// the primary than this, with a *ReplicaLagError (0: no limit).
	MaxReplicaLag time.Duration
}

// Reconciler plans and applies missing refunds.
type Reconciler struct {
	Store   Store
	Policy  Policy
	Limits  Limits
	Options Options
	Log     *zap.Logger
	// Now is the wall clock, for durations only; the policy uses the
	// database's clock.
	Now func() time.Time
	// Progress, when set, reports planning and applying as they go.
	Progress *Progress
}

// Written is a refund of an apply batch that is in the ledger once the batch
// committed: written by it, or by an earlier attempt of the same run whose
// commit acknowledgement was lost.
type Written struct {
	// Index is the refund's place in the batch.
	Index int
	// LedgerEntryID is its ledger entry.
	LedgerEntryID int64
}

// Result is what an applying run did. The refunds it wrote and skipped are
// spooled like the plan's; Close frees them and the plan.
type Result struct {
	RunID  string
	Status string
	Plan   *Plan

	// Exceptions is what recording the plan's discrepancies did; nil when
	// the run recorded none (a reviewed plan, an interrupted run, a failure
	// to record).
	Exceptions *ExceptionsRecorded

	issued, skipped spool
	issuedTotals    Totals
	applied         int64 // planned refunds whose batch committed, or set aside
	// partial are refunds past the applied ones whose batch committed in a
	// round that failed (apply workers), recorded all the same.
	partial       map[ComponentKey]bool
	oldestSkipped *time.Time // earliest event among the skipped

	// deferred are planned refunds set aside because their balance row was
	// held by another transaction, in the order they were set aside; the
	// first deferredDone of them were written (or skipped) since.
	deferred     spool
	deferredDone int64
	// issuedLate and skippedLate are what became of the deferred refunds,
	// in order: EachIssued and EachSkipped merge them in.
	issuedLate, skippedLate spool
	// Throttled is how long the apply paused for the replica's lag.
	Throttled time.Duration
}

// Issued totals the refunds the run wrote, with the plan's discrepancies and
// pending count.
func (r *Result) Issued() Totals {
	t := r.issuedTotals
	t.init()
	t.ByRule, t.ByComponent, t.byRuleComponent = maps.Clone(t.ByRule), maps.Clone(t.ByComponent), maps.Clone(t.byRuleComponent)
	pt := r.Plan.Totals()
	t.Discrepancies, t.DiscrepanciesByKind, t.Pending = pt.Discrepancies, pt.DiscrepanciesByKind, pt.Pending
	return t
}

// EachIssued calls fn for every refund the run wrote, in order.
func (r *Result) EachIssued(fn func(Refund) error) error {
	return mergeSpools(&r.issued, &r.issuedLate, func(v Verdict) error { return fn(Refund(v)) })
}

// EachSkipped calls fn for every planned refund that was no longer owed when
// its batch was written, in order.
func (r *Result) EachSkipped(fn func(Refund) error) error {
	return mergeSpools(&r.skipped, &r.skippedLate, func(v Verdict) error { return fn(Refund(v)) })
}

// IssuedRefunds reads the written refunds into memory (tests, small runs).
func (r *Result) IssuedRefunds() ([]Refund, error) { return collect(r.EachIssued) }

// SkippedRefunds reads the skipped refunds into memory.
func (r *Result) SkippedRefunds() ([]Refund, error) { return collect(r.EachSkipped) }

// SkippedCount is how many planned refunds were skipped.
func (r *Result) SkippedCount() int64 { return r.skipped.len() + r.skippedLate.len() }

// OldestOwed is the earliest entitling event among the refunds the run found
// owed and left out of the ledger when it ended:
//   - those still inside the settle delay (the plan's pending ones), which
//     the online path may yet write;
//   - planned ones the run did not write: all of them when it was refused,
//     those of the batches it never committed when it failed or was
//     interrupted;
//   - planned ones it skipped because the policy, evaluated again as their
//     batch was written, no longer owed them as planned, and that it still
//     owes after the apply (a changed amount or rule): those no longer owed
//     at all (the job reopened mid-run, refunded online meanwhile) do not
//     count, since nothing will ever write them (recheckSkipped).
//
// Owed refunds with no balance row (missing_balance discrepancies) are
// counted among the discrepancies instead. It returns nil when nothing owed
// was left, or the run made no plan. It reads the plan's spool only past the
// batches that committed.
func (r *Result) OldestOwed() (*time.Time, error) {
	if r == nil || r.Plan == nil {
		return nil, nil
	}
	oldest := earliest(r.Plan.OldestPending(), r.oldestSkipped)
	var d int64
	if err := r.deferred.each(func(f Verdict) error {
		if d++; d > r.deferredDone {
			oldest = earliest(oldest, f.EventAt)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if r.applied >= r.Plan.refunds.len() {
		return oldest, nil
	}
	var i int64
	err := r.Plan.refunds.each(func(v Verdict) error {
		if i++; i > r.applied && !r.partial[v.Key()] {
			oldest = earliest(oldest, v.EventAt)
		}
		return nil
	})
	return oldest, err
}

// Close frees the result's spools and its plan's.
func (r *Result) Close() {
	r.issued.close()
	r.skipped.close()
	r.deferred.close()
	r.issuedLate.close()
	r.skippedLate.close()
	if r.Plan != nil {
		r.Plan.Close()
	}
}

// Plan finds every missing refund and discrepancy in the run's scope. It
// writes nothing.
func (r *Reconciler) Plan(ctx context.Context) (*Plan, error) { return r.plan(ctx, false) }

// PlanToRecord is Plan for a run that records what it found: the plan also
// holds the refund entries the run is to match (Plan.EachMatch), with the
// verdict its own policy evaluation reached on them. A full sweep looks for
// them only until one succeeded (Store.HistoryMatched): after that it finds
// next to nothing unmatched, and its recording matches what arrived.
func (r *Reconciler) PlanToRecord(ctx context.Context) (*Plan, error) { return r.plan(ctx, true) }

func (r *Reconciler) plan(ctx context.Context, matches bool) (*Plan, error) {
	reads, cutoff, err := r.readBound(ctx)
	if err != nil {
		return nil, err
	}
	now := reads.Now
	scope := Scope{BatchSize: r.Options.BatchSize, Shard: r.Options.Shard, Until: cutoff, Lookback: r.Options.Lookback,
		Parallel: max(r.Options.Parallel, 1)}
	if !r.Options.Full {
		var marks map[string]time.Time
		if err := r.retry(ctx, "read watermarks", func(ctx context.Context) (err error) {
			marks, err = r.Store.Watermarks(ctx, r.Options.Shard)
			return err
		}); err != nil {
			return nil, err
		}
		if len(marks) == len(Sources) {
			scope.Since = map[string]time.Time{}
			for src, m := range marks {
				scope.Since[src] = m.Add(-r.Options.Lookback)
			}
		}
	}
	var slices []Slice
	var events []Event
	if err := r.retry(ctx, "split into slices", func(ctx context.Context) (err error) {
		slices, events, err = r.Store.Slices(ctx, scope)
		return err
	}); err != nil {
		return nil, err
	}
	if matches && !scope.Incremental() {
		var done bool
		if err := r.retry(ctx, "read whether the history is matched", func(ctx context.Context) (err error) {
			done, err = r.Store.HistoryMatched(ctx, scope.Shard)
			return err
		}); err != nil {
			return nil, err
		}
		matches = !done
	}
	plan := &Plan{AsOf: now, SettleCutoff: scope.Until, Policy: r.Policy, Scope: scope.Name(), Shard: scope.Shard.String(),
		PlannedOn: reads.On, ReplicaLag: reads.Lag, ReplayedUntil: reads.Until, events: events, lookback: scope.Lookback}
	for _, since := range scope.Since {
		if plan.MatchFrom.IsZero() || since.Before(plan.MatchFrom) {
			plan.MatchFrom = since
		}
	}
	if err := r.planSlices(ctx, plan, scope, slices, matches); err != nil {
		plan.Close()
		return nil, err
	}
	return plan, nil
}

// planSlices plans the slices on Options.Parallel connections at once and
// adds their verdicts to the plan in slice order (slices are in proposal
// order, and so is each slice's result). The dispatcher runs at most one
// slice more than there are workers ahead of the slice being added, so
// memory holds a few slices' verdicts, never the plan.
func (r *Reconciler) planSlices(ctx context.Context, plan *Plan, scope Scope, slices []Slice, matches bool) error {
	weights, total := sliceProposals(slices, scope.BatchSize)
	progress := r.Progress.Start("planning", "proposals", total)
	defer progress.Done()
	workers := max(r.Options.Parallel, 1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		found []Verdict
		err   error
	}
	results := make([]chan result, len(slices))
	for i := range results {
		results[i] = make(chan result, 1)
	}
	window := make(chan struct{}, workers+1) // slices dispatched but not yet added
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				var found []Verdict
				err := r.retry(ctx, "plan slice", func(ctx context.Context) (err error) {
					found, err = r.Store.PlanSlice(ctx, r.Policy, plan.SettleCutoff, scope.Shard, slices[i], matches)
					return err
				})
				if err != nil {
					err = fmt.Errorf("plan %s: %w", describe(slices[i]), err)
				}
				results[i] <- result{found, err}
			}
		}()
	}
	go func() {
		defer close(next)
		for i := range slices {
			select {
			case window <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer wg.Wait()
	defer cancel() // stop the workers before waiting for them
	for i := range slices {
		var res result
		select {
		case res = <-results[i]:
		case <-ctx.Done():
			return ctx.Err()
		}
		<-window
		if res.err != nil {
			return res.err
		}
		for _, f := range res.found {
			if err := plan.Add(f); err != nil {
				return fmt.Errorf("plan %s: %w", describe(slices[i]), err)
			}
		}
		progress.Add(weights[i])
	}
	return nil
}

func describe(s Slice) string {
	if s.IDs != nil {
		return fmt.Sprintf("%d changed proposals from %d", len(s.IDs), s.IDs[0])
	}
	return fmt.Sprintf("proposals [%d, %d)", s.Lo, s.Hi)
}

// LockKey is the name of the run lock for a shard.
func LockKey(shard Shard) string {
	return "connects-reconciler/run/" + shard.String()
}

// Run plans, checks the limits, and writes the missing refunds in batches.
// It returns ErrLocked when another run holds the lock and a *LimitError when
// the plan is refused. The run is recorded from the moment it holds the
// lock, so one that fails or is interrupted while planning says so too; the
// returned Result is set whenever a plan was made.
func (r *Reconciler) Run(ctx context.Context, runID string) (*Result, error) {
	return r.execute(ctx, runID, "run", r.Policy, r.PlanToRecord)
}

// RunPlan applies a reviewed plan, under the same lock, limits and
// idempotency as Run: each refund in it that is still owed (under the plan's
// policy and cutoff) is written, the others are skipped and reported, and
// nothing outside it is written. It does not move the watermarks: a plan
// says nothing about what else changed.
func (r *Reconciler) RunPlan(ctx context.Context, runID string, plan *Plan) (*Result, error) {
	return r.execute(ctx, runID, "plan", plan.Policy, func(context.Context) (*Plan, error) { return plan, nil })
}

func (r *Reconciler) execute(ctx context.Context, runID, mode string, policy Policy, makePlan func(context.Context) (*Plan, error)) (*Result, error) {
	release, err := r.Store.Lock(ctx, LockKey(r.Options.Shard))
	if err != nil {
		return nil, err
	}
	defer release()
	if err := r.Store.StartRun(ctx, RunRecord{ID: runID, Mode: mode, Shard: r.Options.Shard.String(), Policy: policy}); err != nil {
		return nil, fmt.Errorf("record run: %w", err)
	}
	plan, err := makePlan(ctx)
	if err != nil {
		if plan != nil {
			plan.Close()
		}
		return nil, errors.Join(err, r.finish(runID, Outcome{Status: r.failure(ctx), Error: err.Error()}))
	}
	totals := plan.Totals()
	if err := r.Store.RecordPlan(ctx, runID, plan); err != nil {
		plan.Close()
		err = fmt.Errorf("record plan: %w", err)
		return nil, errors.Join(err, r.finish(runID, Outcome{Status: r.failure(ctx), Error: err.Error()}))
	}
	res := &Result{RunID: runID, Status: StatusRunning, Plan: plan}
	if limitErr := r.Limits.Check(totals); limitErr != nil {
		res.Status = StatusRefused
		// a refused run found its discrepancies as surely as any: keep them
		recErr := r.recordExceptions(ctx, mode, res)
		out := Outcome{Status: StatusRefused, Error: limitErr.Error()}
		if recErr == nil {
			out.Sweep = sweepOf(res)
		}
		return res, errors.Join(limitErr, recErr, r.finish(runID, out))
	}

	runErr := r.apply(ctx, res)
	r.recheckSkipped(ctx, res)
	if runErr == nil {
		// Only after a whole apply: a run that failed writing has most
		// likely lost its database, and the next run records what it finds.
		runErr = r.recordExceptions(ctx, mode, res)
	}
	res.Status = StatusSucceeded
	if runErr != nil {
		res.Status = r.failure(ctx)
	}
	out := Outcome{Status: res.Status, Skipped: res.SkippedCount()}
	if runErr != nil {
		out.Error = runErr.Error()
	} else if mode == "run" {
		out.Sweep = sweepOf(res)
		out.Watermark = &plan.SettleCutoff
		out.Forget = plan.SettleCutoff.Add(-plan.lookback)
		for _, e := range plan.events {
			if e.At.After(out.Forget) {
				out.Seen = append(out.Seen, e)
			}
		}
	}
	return res, errors.Join(runErr, r.finish(runID, out))
}

// recordExceptions keeps the plan's discrepancies as exceptions. Reviewed
// plans (mode "plan") record nothing: their verdicts are as old as the file.
func (r *Reconciler) recordExceptions(ctx context.Context, mode string, res *Result) error {
	if mode != "run" || res.Plan == nil {
		return nil
	}
	var rec ExceptionsRecorded
	if err := r.retry(ctx, "record exceptions", func(ctx context.Context) (err error) {
		rec, err = r.Store.RecordExceptions(ctx, res.RunID, res.Plan)
		return err
	}); err != nil {
		return fmt.Errorf("record exceptions: %w", err)
	}
	res.Exceptions = &rec
	r.log().Info("exceptions recorded", zap.Int64("seen", rec.Seen), zap.Int64("opened", rec.Opened),
		zap.Int64("reopened", rec.Reopened), zap.Int64("closed", rec.Closed), zap.Int64("open", rec.Open),
		zap.Int64("unacknowledged", rec.Unacknowledged), zap.Int64("refunds_matched", rec.Matched))
	if rec.CloseWithheld {
		r.log().Warn("full sweep closed no exception: it planned on a replica that had not replayed up to the run's start; the next sweep that reads a complete view closes them",
			zap.Timep("replayed_until", res.Plan.ReplayedUntil), zap.Duration("replica_lag", res.Plan.ReplicaLag))
	}
	return nil
}

// sweepOf is what a run records as a sweep: the totals per state of a full
// sweep that recorded its exceptions, else nil.
func sweepOf(res *Result) map[State]StateTotal {
	if res.Exceptions == nil || res.Plan.Scope != "full" {
		return nil
	}
	t := res.Plan.StateTotals()
	if t == nil {
		t = map[State]StateTotal{}
	}
	return t
}

// failure is the status of a run that stopped on an error: interrupted when
// its context was cancelled (SIGTERM), failed otherwise.
func (r *Reconciler) failure(ctx context.Context) string {
	if ctx.Err() != nil {
		return StatusInterrupted
	}
	return StatusFailed
}

func (r *Reconciler) apply(ctx context.Context, res *Result) error {
	workers := max(r.Options.Parallel, 1)
	sizers := make([]*batchSizer, workers)
	for i := range sizers {
		sizers[i] = newBatchSizer(r.Options)
	}
	th := r.newThrottle()
	total := res.Plan.Totals().Refunds
	progress := r.Progress.Start("applying", "refunds", total)
	progress.Count("written", 0)
	defer progress.Done()
	var done int64
	// A round is the plan's next refunds, split by account into one batch
	// per worker (partition); it is complete when one of them is full.
	var round []Verdict
	parts := make([][]Verdict, workers)
	flush := func() error {
		if len(round) == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("stopped before batch at refund %d of %d: %w", done+1, total, err)
		}
		if err := th.wait(ctx, res); err != nil {
			return fmt.Errorf("stopped before batch at refund %d of %d: %w", done+1, total, err)
		}
		written := res.issuedTotals.Refunds
		if err := r.applyRound(ctx, res, sizers, parts); err != nil {
			return fmt.Errorf("apply refunds %d-%d of %d: %w", done+1, done+int64(len(round)), total, err)
		}
		progress.Add(int64(len(round)))
		progress.Count("written", res.issuedTotals.Refunds-written)
		done += int64(len(round))
		round = round[:0]
		for i := range parts {
			parts[i] = parts[i][:0]
		}
		return nil
	}
	err := res.Plan.refunds.each(func(v Verdict) error {
		p := partition(v.FreelancerID, workers)
		round = append(round, v)
		parts[p] = append(parts[p], v)
		if len(parts[p]) < sizers[p].size {
			return nil
		}
		return flush()
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return err
	}
	written := res.issuedTotals.Refunds
	err = r.applyDeferred(ctx, res, sizers[0], th)
	progress.Count("written", res.issuedTotals.Refunds-written)
	return err
}

// partition is the apply worker that writes an account's refunds: accounts
// are split between the workers by id, so that two workers never credit the
// same balance row.
func partition(account int64, workers int) int {
	return int(((account % int64(workers)) + int64(workers)) % int64(workers))
}

// batchDone is what one worker's batch of a round came to: the refunds of
// the batch that were not set aside (those written carry their
// LedgerEntryID), and those set aside.
type batchDone struct {
	kept, held []Verdict
	err        error
}

// applyRound writes one round of the plan: each partition's batch in a
// transaction of its own, the partitions at once, each on a connection of
// its own (PostgreSQL runs one statement on one core; the partitions' accounts
// are disjoint, so their transactions never wait for each other's balance
// rows). The round is recorded in plan order once every batch is done.
func (r *Reconciler) applyRound(ctx context.Context, res *Result, sizers []*batchSizer, parts [][]Verdict) error {
	out := make([]batchDone, len(parts))
	var wg sync.WaitGroup
	for i, part := range parts {
		if len(part) == 0 {
			continue
		}
		wg.Go(func() {
			out[i].kept, out[i].held, out[i].err = r.applyBatch(ctx, res, sizers[i], part)
		})
	}
	wg.Wait()
	var errs []error
	var kept, held [][]Verdict
	for _, o := range out {
		errs = append(errs, o.err)
		if o.err == nil {
			kept, held = append(kept, o.kept), append(held, o.held)
		}
	}
	if err := errors.Join(errs...); err != nil {
		// Batches of the round that committed are recorded all the same (a
		// run that fails reports what it wrote), but the round is not the
		// plan's prefix: res.applied stays, and OldestOwed leaves out these.
		return errors.Join(err, res.recordPartial(mergeVerdicts(kept), mergeVerdicts(held)))
	}
	if err := res.setAside(mergeVerdicts(held)); err != nil {
		return err
	}
	return res.record(mergeVerdicts(kept), true)
}

// mergeVerdicts merges lists each in proposal, component order into one.
func mergeVerdicts(lists [][]Verdict) []Verdict {
	var n int
	for _, l := range lists {
		n += len(l)
	}
	out := make([]Verdict, 0, n)
	idx := make([]int, len(lists))
	for len(out) < n {
		best := -1
		for i, l := range lists {
			if idx[i] == len(l) {
				continue
			}
			if best < 0 || lessPC(l[idx[i]].ProposalID, l[idx[i]].Component, lists[best][idx[best]].ProposalID, lists[best][idx[best]].Component) {
				best = i
			}
		}
		out = append(out, lists[best][idx[best]])
		idx[best]++
	}
	return out
}

// setAside keeps refunds whose balance row another transaction held, for
// applyDeferred; they count as applied (the plan's prefix is done with them).
func (res *Result) setAside(held []Verdict) error {
	for _, v := range held {
		if err := res.deferred.add(v); err != nil {
			return err
		}
	}
	res.applied += int64(len(held))
	return nil
}

// recordPartial files the batches that committed in a round that did not:
// what they wrote and skipped, and what they set aside, without moving
// res.applied (the round is not the plan's prefix); res.partial names their
// refunds so that OldestOwed does not count them as left owed.
func (res *Result) recordPartial(kept, held []Verdict) error {
	for _, v := range held {
		if err := res.deferred.add(v); err != nil {
			return err
		}
	}
	for _, l := range [][]Verdict{kept, held} {
		for _, v := range l {
			if res.partial == nil {
				res.partial = map[ComponentKey]bool{}
			}
			res.partial[v.Key()] = true
		}
	}
	return res.record(kept, false)
}

// applyBatch writes one batch of the plan. Refunds whose balance row another
// transaction holds are set aside (returned as held) and the rest of the
// batch is written at once without them: the job never queues behind the
// marketplace's own transactions. It returns the refunds of the batch that
// were not set aside, those written carrying their LedgerEntryID.
func (r *Reconciler) applyBatch(ctx context.Context, res *Result, sizer *batchSizer, batch []Verdict) (kept, held []Verdict, err error) {
	pending := batch
	for len(pending) > 0 {
		var took time.Duration
		var written []Written
		err := r.retry(ctx, "apply batch", func(ctx context.Context) (err error) {
			t0 := r.now()
			written, err = r.Store.Apply(ctx, res.RunID, res.Plan.Policy, res.Plan.SettleCutoff, pending,
				ApplyOptions{LockTimeout: r.Options.ApplyLockTimeout})
			took = r.now().Sub(t0)
			if err != nil && !errors.As(err, new(*ContendedError)) {
				sizer.failed()
			}
			return err
		})
		var contended *ContendedError
		if errors.As(err, &contended) {
			keep, h := contended.split(pending)
			if len(h) == 0 {
				return nil, nil, fmt.Errorf("%w, none of which is in the batch", err)
			}
			held = mergeVerdicts([][]Verdict{held, h})
			r.log().Info("refunds set aside: their balance row is held by another transaction",
				zap.Int("refunds", len(h)), zap.Int("accounts", len(contended.Accounts)))
			sizer.failed()
			pending = keep
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		if err := markWritten(pending, written); err != nil {
			return nil, nil, err
		}
		sizer.observe(len(pending), took)
		r.log().Debug("batch applied", zap.Int("refunds", len(pending)), zap.Int("written", len(written)),
			zap.Duration("took", took), zap.Int("next_batch", sizer.size))
		return pending, held, nil
	}
	return nil, held, nil
}

// markWritten gives the batch's written refunds their ledger entries.
func markWritten(batch []Verdict, written []Written) error {
	last := -1
	for _, w := range written {
		if w.Index <= last || w.Index >= len(batch) {
			return fmt.Errorf("apply answered for refund %d of a batch of %d, after %d", w.Index, len(batch), last)
		}
		batch[w.Index].LedgerEntryID = w.LedgerEntryID
		last = w.Index
	}
	return nil
}

// applyDeferred writes the refunds set aside for a held balance row, after
// the rest of the plan: each batch now waits for its balance rows, up to the
// apply lock timeout, and a timeout is retried with backoff like any
// transient error. A row held past the retries fails the run; its refunds
// stay owed for the next run.
func (r *Reconciler) applyDeferred(ctx context.Context, res *Result, sizer *batchSizer, th *throttle) error {
	n := res.deferred.len()
	if n == 0 {
		return nil
	}
	r.log().Info("writing the refunds set aside for a held balance row", zap.Int64("refunds", n))
	var batch []Verdict
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := th.wait(ctx, res); err != nil {
			return err
		}
		var written []Written
		err := r.retry(ctx, "apply set-aside refunds", func(ctx context.Context) (err error) {
			written, err = r.Store.Apply(ctx, res.RunID, res.Plan.Policy, res.Plan.SettleCutoff, batch,
				ApplyOptions{Wait: true, LockTimeout: r.Options.ApplyLockTimeout})
			return err
		})
		if err == nil {
			err = markWritten(batch, written)
		}
		if err != nil {
			return fmt.Errorf("apply %d refunds set aside for a held balance row (%d of %d): %w",
				len(batch), res.deferredDone+1, n, err)
		}
		if err := res.record(batch, false); err != nil {
			return err
		}
		res.deferredDone += int64(len(batch))
		batch = batch[:0]
		return nil
	}
	err := res.deferred.each(func(v Verdict) error {
		batch = append(batch, v)
		if len(batch) < sizer.size {
			return nil
		}
		return flush()
	})
	if err != nil {
		return err
	}
	return flush()
}

// Record files a committed batch of the plan's refunds, in plan order:
// those with a LedgerEntryID were written, the rest skipped.
func (res *Result) Record(batch []Verdict) error { return res.record(batch, true) }

// record files a committed batch, in proposal, component order: its
// refunds written (those with a LedgerEntryID) and those planned but not
// written (skipped: no longer owed as planned). inPlan says the batch is the
// plan's next one (not refunds set aside earlier); batches come in plan
// order.
func (res *Result) record(batch []Verdict, inPlan bool) error {
	res.issuedTotals.init()
	issued, skipped := &res.issued, &res.skipped
	if inPlan {
		res.applied += int64(len(batch))
	} else {
		issued, skipped = &res.issuedLate, &res.skippedLate
	}
	for _, v := range batch {
		if v.LedgerEntryID != 0 {
			res.issuedTotals.addRefund(v.Rule, v.Component, v.Charged)
			if err := issued.add(v); err != nil {
				return err
			}
			continue
		}
		res.oldestSkipped = earliest(res.oldestSkipped, v.EventAt)
		if err := skipped.add(v); err != nil {
			return err
		}
	}
	return nil
}

// finish records the outcome even when the run's context is already
// cancelled: an interrupted run must say so.
func (r *Reconciler) finish(runID string, o Outcome) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Store.FinishRun(ctx, runID, r.Options.Shard, o); err != nil {
		return fmt.Errorf("record run outcome %s: %w", o.Status, err)
	}
	return nil
}

// retry runs fn, again after transient errors, with doubling backoff, at
// most Options.Retries more times.
func (r *Reconciler) retry(ctx context.Context, op string, fn func(context.Context) error) error {
	wait := r.Options.RetryBackoff
	if wait <= 0 {
		wait = 200 * time.Millisecond
	}
	for attempt := 0; ; attempt++ {
		err := fn(ctx)
		if err == nil || !errors.Is(err, ErrTransient) || attempt >= r.Options.Retries || ctx.Err() != nil {
			return err
		}
		r.log().Warn("retrying after transient error", zap.String("op", op), zap.Int("attempt", attempt+1), zap.Error(err))
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait *= 2
	}
}

func (r *Reconciler) now() time.Time {
	if r.Now == nil {
		return time.Now()
	}
	return r.Now()
}

func (r *Reconciler) log() *zap.Logger {
	if r.Log == nil {
		return zap.NewNop()
	}
	return r.Log
}
