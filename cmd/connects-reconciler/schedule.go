package main

import (
	"context"
	"errors"
	"fmt"
	"io"
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

// errInterrupted ends the schedule command when a signal stopped a run.
var errInterrupted = errors.New("stopped by a signal while a run was in flight; the run is recorded as interrupted")

func cmdSchedule(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newCommand("schedule", "Run on the configured schedule until SIGTERM or SIGINT; serve /healthz, /readyz and /metrics.", stderr,
		config.GroupPolicy, config.GroupLimits, config.GroupRun, config.GroupSchedule)
	if err := c.parse(args, getenv, stderr); err != nil {
		return err
	}
	log := c.log
	c.logConfig(log)
	// The database (and the replica, when configured) is opened on the
	// first tick that reaches it, so the process serves /healthz and
	// /readyz while it is down.
	defer c.closeReplica()
	s := &scheduler{cfg: c.cfg, open: c.open, store: c.newStore, log: log, metrics: prometheus.NewLabelled(prometheus.Grouping(c.cfg.Run))}
	defer s.close()
	// A database that does not answer yet (down, or not created yet) is not a
	// reason to exit: the process serves /readyz 503 and each tick connects
	// again until it answers. A malformed URL was refused by config (exit 2).
	// The first attempt runs beside the server, which serves at once.
	go func() {
		if _, err := s.database(ctx); err != nil {
			log.Warn("database not reachable; serving /readyz 503 and connecting again on each tick", zap.Error(err))
		}
	}()
	err := cron.Serve(ctx, cron.Options{
		Spec: c.cfg.Schedule.Spec, Location: c.cfg.Schedule.Location, ListenAddress: c.cfg.Schedule.ListenAddress,
		Tick: s.tick, Skipped: s.skipped, Ready: s.ready, Metrics: s.metrics.Handler(), Log: log,
	})
	if err != nil {
		return err
	}
	if s.interrupted.Load() {
		return errInterrupted
	}
	log.Info("stopped")
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

// tick does what the run command does; the advisory lock still keeps a second
// process from running at the same time.
func (s *scheduler) tick(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	start := time.Now()
	s.inFlight.Store(&start)
	defer s.inFlight.Store(nil)
	runID := newRunID(start)
	log := s.log.With(zap.String("run_id", runID))
	db, err := s.database(ctx)
	if err != nil {
		run := prometheus.Run{Err: err, Canceled: ctx.Err() != nil, Started: start, Ended: time.Now()}
		s.metrics.Record(run)
		log.Error("run finished", zap.String("status", run.Status()), zap.Duration("took", run.Ended.Sub(start)),
			zap.Error(fmt.Errorf("database not reachable: %w", err)))
		return
	}
	res, err := newReconciler(s.cfg, s.store(db, log), log).Run(ctx, runID)
	run := finished(ctx, db, s.cfg, log, res, err, start)
	if res != nil {
		defer res.Close()
	}
	s.metrics.Record(run)
	status := run.Status()
	if status == reconcile.StatusInterrupted {
		s.interrupted.Store(true)
	}
	fields := runFields(run)
	switch status {
	case reconcile.StatusSucceeded:
		log.Info("run finished", fields...)
	case prometheus.StatusLocked:
		log.Warn("skipped: another run holds the lock; nothing done", append(fields,
			zap.String("reason", prometheus.ReasonLocked), zap.Duration("running_run_age", run.RunningAge))...)
	default:
		log.Error("run finished", append(fields, zap.Error(err))...)
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

// recordRun records a run command's run in fresh metrics and, when a
// Pushgateway is configured, pushes them; a failed push is logged, not fatal:
// the run's outcome and exit code stand. A run skipped because the lock was
// taken pushes only the skip's time and the running run's age.
func recordRun(ctx context.Context, cfg config.Config, log *zap.Logger, run prometheus.Run) {
	if cfg.Metrics.PushgatewayURL == "" {
		return
	}
	m := prometheus.New()
	m.Record(run)
	pushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if err := m.Push(pushCtx, cfg.Metrics.PushgatewayURL, prometheus.Grouping(cfg.Run)); err != nil {
		log.Warn("metrics not pushed", zap.Error(err))
		return
	}
	log.Debug("metrics pushed")
}
