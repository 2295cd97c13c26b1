// Package service runs the job as a process: one run (Job.Once), which the
// run command runs once and the schedule (Schedule) on each tick, recorded in
// metrics and logged once; the logger and reviewed plans. It is the binary's
// wiring of the domain, its adapters and the configuration; package main
// parses flags and turns errors into exit codes.
package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // time zones for the schedule on images without /usr/share/zoneinfo

	"github.com/jmoiron/sqlx"
	"go.uber.org/zap"

	"github.com/connects/connects-reconciler/config"
	"github.com/connects/connects-reconciler/reconcile"
	"github.com/connects/connects-reconciler/reconcile/cron"
	"github.com/connects/connects-reconciler/reconcile/postgres"
	"github.com/connects/connects-reconciler/reconcile/prometheus"
)

// ErrInterrupted ends the schedule when a signal stopped a run.
var ErrInterrupted = errors.New("stopped by a signal while a run was in flight; the run is recorded as interrupted")

// Options wire the schedule to the process: the configuration, how to open
// the database (called again on each tick until it answers), the store over
// it, the logger.
type Options struct {
	Config config.Config
	Open   func(context.Context) (*sqlx.DB, error)
	Store  func(*sqlx.DB, *zap.Logger) *postgres.Store
	Log    *zap.Logger
}

// Job is one run of the job as a process runs it: the run command once,
// the schedule on each tick.
type Job struct {
	Config config.Config
	// Store is the store over the database for a run's logger (reading on
	// the replica when one is open).
	Store func(*sqlx.DB, *zap.Logger) *postgres.Store
	// Metrics take each finished run: the schedule's served metrics, or
	// the run command's Pushgateway.
	Metrics interface{ Record(prometheus.Run) }
	// Live shows progress on a terminal's live line; nil: progress is
	// logged.
	Live func(string)
}

// Begin is a run's id (sortable, unique), its start, and log with the id.
func Begin(log *zap.Logger) (runID string, start time.Time, runLog *zap.Logger) {
	start = time.Now()
	runID = NewRunID(start)
	return runID, start, log.With(zap.String("run_id", runID))
}

// Once runs the job once on db, begun at start (Begin): the run loop
// (reconcile.Reconciler.Run), or the reviewed plan applied; when the lock
// was taken, the age and silence of the run holding it; then the run
// recorded in the metrics and logged in one line. It returns the result
// (the caller's to close; nil when the run ended before it was recorded),
// the run as the metrics saw it, and the run's error.
func (j Job) Once(ctx context.Context, db *sqlx.DB, reviewed Reviewed, runID string, start time.Time, log *zap.Logger) (*reconcile.Result, prometheus.Run, error) {
	store := j.Store(db, log)
	r := NewReconciler(j.Config, store, log)
	r.Progress = NewProgress(j.Config.Log, log.Named("progress"), j.Live)
	res, err := reviewed.Run(ctx, r, runID, log)
	run := prometheus.Run{Result: res, Err: err, Canceled: ctx.Err() != nil, Started: start}
	if errors.Is(err, reconcile.ErrLocked) {
		// the shard locked: a reviewed plan's, which may not be the configured one
		h := runningHolder(ctx, store, r.Options.Shard, log)
		run.RunningAge, run.HolderSilent = h.Age, h.Silent
	}
	run.Ended = time.Now()
	j.Metrics.Record(run)
	fields := Fields(run)
	switch run.Status() {
	case reconcile.StatusSucceeded:
		log.Info("run finished", fields...)
	case prometheus.StatusLocked:
		log.Warn("skipped: another run holds the lock; nothing done", append(fields,
			zap.String("reason", prometheus.ReasonLocked), zap.Duration("running_run_age", run.RunningAge),
			zap.Duration("holder_silent_for", run.HolderSilent))...)
	default:
		log.Error("run finished", append(fields, zap.Error(err))...)
	}
	return res, run, err
}

// Schedule runs the reconciler on the configured schedule until ctx ends,
// serving /healthz, /readyz and /metrics. The database (and the replica,
// when configured) is opened on the first tick that reaches it, so the
// process serves while it is down; a run interrupted by the end of ctx makes
// it return ErrInterrupted.
func Schedule(ctx context.Context, o Options) error {
	ctx, refuse := context.WithCancelCause(ctx)
	defer refuse(nil)
	s := &scheduler{cfg: o.Config, open: o.Open, store: o.Store, log: o.Log, refuse: refuse,
		metrics: prometheus.NewLabelled(prometheus.Grouping(o.Config.Run))}
	defer s.close()
	// A database that does not answer yet (down, or not created yet) is not a
	// reason to exit: the process serves /readyz 503 and each tick connects
	// again until it answers. A malformed URL was refused by config (exit 2),
	// and so is a configuration that connecting shows to be wrong (a replica
	// URL naming a server that is not a standby): no retry helps, so the
	// process stops with it, as run does. The first attempt runs beside the
	// server, which serves at once.
	go func() {
		if _, err := s.database(ctx); err != nil && !isConfig(err) {
			s.log.Warn("database not reachable; serving /readyz 503 and connecting again on each tick", zap.Error(err))
		}
	}()
	err := cron.Serve(ctx, cron.Options{
		Spec: s.cfg.Schedule.Spec, Location: s.cfg.Schedule.Location, ListenAddress: s.cfg.Schedule.ListenAddress,
		Tick: s.tick, Skipped: s.skipped, Ready: s.ready, Metrics: s.metrics.Handler(), Log: s.log,
	})
	if err != nil {
		return err
	}
	if cause := context.Cause(ctx); isConfig(cause) {
		return cause
	}
	if s.interrupted.Load() {
		return ErrInterrupted
	}
	s.log.Info("stopped")
	return nil
}

// scheduler runs the reconciler on each tick and serves its health and
// metrics.
type scheduler struct {
	cfg         config.Config
	open        func(context.Context) (*sqlx.DB, error)
	dbMu        sync.Mutex                                  // held while connecting
	db          *sqlx.DB                                    // nil until the database first answered
	store       func(*sqlx.DB, *zap.Logger) *postgres.Store // reads on the replica when one is open
	log         *zap.Logger
	metrics     *prometheus.Metrics
	interrupted atomic.Bool
	inFlight    atomic.Pointer[time.Time] // when the run in flight started
	// refuse stops the schedule with a configuration error found on
	// connecting.
	refuse context.CancelCauseFunc
}

// isConfig says err is a configuration problem: exit 2, no retry helps.
func isConfig(err error) bool {
	var cerr *config.Error
	return errors.As(err, &cerr)
}

// errConnecting answers a readiness probe while a tick connects.
var errConnecting = errors.New("connecting to the database")

// database returns the pool, connecting first when the database has not
// answered yet. With wait false it does not wait for a connection attempt in
// progress (readiness probes).
func (s *scheduler) database(ctx context.Context) (*sqlx.DB, error) { return s.databaseWait(ctx, true) }

func (s *scheduler) databaseWait(ctx context.Context, wait bool) (*sqlx.DB, error) {
	if wait {
		s.dbMu.Lock()
	} else if !s.dbMu.TryLock() {
		return nil, errConnecting
	}
	defer s.dbMu.Unlock()
	if s.db != nil {
		return s.db, nil
	}
	db, err := s.open(ctx)
	if err != nil {
		if isConfig(err) && s.refuse != nil {
			s.log.Error("refusing to run: the configuration is wrong; stopping", zap.Error(err))
			s.refuse(err)
		}
		return nil, err
	}
	s.db = db
	s.log.Info("database reachable")
	return db, nil
}

func (s *scheduler) close() {
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	if s.db != nil {
		s.db.Close()
	}
}

// skipped records a tick skipped because the previous run is still going.
func (s *scheduler) skipped() {
	if started := s.inFlight.Load(); started != nil {
		s.metrics.SkippedStillRunning(time.Now(), *started)
	}
}

// tick is one run (Job.Once) on the database, connecting first when it has
// not answered yet; the advisory lock still keeps a second process from
// running at the same time.
func (s *scheduler) tick(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	runID, start, log := Begin(s.log)
	s.inFlight.Store(&start)
	defer s.inFlight.Store(nil)
	db, err := s.database(ctx)
	if err != nil {
		run := prometheus.Run{Err: err, Canceled: ctx.Err() != nil, Started: start, Ended: time.Now()}
		s.metrics.Record(run)
		log.Error("run finished", zap.String("status", run.Status()), zap.Duration("took", run.Ended.Sub(start)),
			zap.Error(fmt.Errorf("database not reachable: %w", err)))
		return
	}
	job := Job{Config: s.cfg, Store: s.store, Metrics: s.metrics}
	res, run, _ := job.Once(ctx, db, Reviewed{}, runID, start, log)
	if res != nil {
		res.Close()
	}
	if run.Status() == reconcile.StatusInterrupted {
		s.interrupted.Store(true)
	}
}

// ready answers /readyz: the database answers. It does not wait for a tick
// that is connecting.
func (s *scheduler) ready(ctx context.Context) error {
	db, err := s.databaseWait(ctx, false)
	if err != nil {
		return err
	}
	return db.PingContext(ctx)
}

// Pushgateway records a run command's run in fresh metrics and, when a
// Pushgateway is configured, pushes them; a failed push is logged, not fatal:
// the run's outcome and exit code stand. A run skipped because the lock was
// taken pushes only the skip's time and the running run's age.
type Pushgateway struct {
	Config config.Config
	Log    *zap.Logger
}

// Record pushes run's metrics.
func (p Pushgateway) Record(run prometheus.Run) {
	if p.Config.Metrics.PushgatewayURL == "" {
		return
	}
	m := prometheus.New()
	m.Record(run)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := m.Push(ctx, p.Config.Metrics.PushgatewayURL, prometheus.Grouping(p.Config.Run)); err != nil {
		p.Log.Warn("metrics not pushed", zap.Error(err))
		return
	}
	p.Log.Debug("metrics pushed")
}

// NewReconciler is the run loop over store with the configured policy,
// limits and options, its progress logged.
func NewReconciler(cfg config.Config, store reconcile.Store, log *zap.Logger) *reconcile.Reconciler {
	return &reconcile.Reconciler{Store: store, Policy: cfg.Policy, Limits: cfg.Limits, Options: cfg.Run, Log: log.Named("reconcile"),
		Progress: NewProgress(cfg.Log, log.Named("progress"), nil)}
}

// Fields are the log fields of a finished run: its totals, scope, what it
// skipped, where it planned and how long it took.
func Fields(run prometheus.Run) []zap.Field {
	fields := []zap.Field{zap.String("status", run.Status()), zap.Duration("took", run.Ended.Sub(run.Started))}
	if res := run.Result; res != nil {
		fields = append(fields, TotalsFields(res.Issued())...)
		fields = append(fields, zap.String("scope", res.Plan.Scope), zap.Int64("skipped", res.SkippedCount()),
			zap.Int64("planned", res.Plan.Totals().Refunds), zap.String("planned_on", res.Plan.PlannedOn),
			zap.Duration("replica_lag", res.Plan.ReplicaLag),
			zap.Duration("oldest_owed_age", prometheus.OldestOwedAge(res, run.Ended.Sub(run.Started))))
	}
	return fields
}

// runningHolder is how long the run holding the lock has been going and
// how long it has been silent, for the running_run_age_seconds and
// running_run_heartbeat_age_seconds gauges; 0, logged, when they cannot be
// read.
func runningHolder(ctx context.Context, store *postgres.Store, shard reconcile.Shard, log *zap.Logger) postgres.Holder {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	h, err := store.RunningAge(ctx, shard)
	if err != nil {
		log.Warn("age of the run holding the lock not read", zap.Error(err))
	}
	return h
}

// TotalsFields are the log fields of a plan's or a run's totals.
func TotalsFields(t reconcile.Totals) []zap.Field {
	fields := []zap.Field{zap.Int64("refunds", t.Refunds), zap.Int64("connects", t.Connects),
		zap.Int64("discrepancies", t.Discrepancies), zap.Int64("pending", t.Pending)}
	for _, rule := range reconcile.Rules {
		a := t.ByRule[rule]
		fields = append(fields, zap.Int64(string(rule)+"_refunds", a.Refunds), zap.Int64(string(rule)+"_connects", a.Connects))
	}
	return fields
}

// NewRunID returns a sortable, unique run id.
func NewRunID(now time.Time) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}
