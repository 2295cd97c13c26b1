package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jmoiron/sqlx"
	"go.uber.org/zap"

	"github.com/connects/connects-reconciler/config"
	"github.com/connects/connects-reconciler/reconcile"
	"github.com/connects/connects-reconciler/reconcile/postgres"
	"github.com/connects/connects-reconciler/reconcile/prometheus"
)

func cmdRun(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newCommand("run", "Plan the missing refunds, check the safety limits, write them.", stderr,
		config.GroupPolicy, config.GroupLimits, config.GroupRun, config.GroupMetrics)
	dryRun := c.fs.Bool("dry-run", false, "report what would be refunded and why; write nothing")
	format := c.fs.String("format", "", "output: table or json (default table on a terminal, json otherwise)")
	reviewed := addPlanFlags(c.fs)
	if err := c.parse(args, getenv, stderr); err != nil {
		return err
	}
	if err := reviewed.check(*dryRun); err != nil {
		return err
	}
	switch *format {
	case "":
		*format = "json"
		if isTerminal(stdout) {
			*format = "table"
		}
	case "table", "json":
	default:
		return usageError{fmt.Sprintf("run: --format must be table or json, got %q", *format)}
	}

	start := time.Now()
	runID := newRunID(start)
	log := c.log.With(zap.String("run_id", runID))
	c.logConfig(log)
	db, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	defer c.closeReplica()

	r := newReconciler(c.cfg, c.newStore(db, log), log)

	if *dryRun {
		plan, err := reviewed.plan(ctx, r, log)
		if err != nil {
			return fmt.Errorf("plan: %w", err)
		}
		defer plan.Close()
		if err := reviewed.save(plan); err != nil {
			return err
		}
		limitErr := c.cfg.Limits.Check(plan.Totals())
		log.Info("dry run planned", append(totalsFields(plan.Totals()), zap.Duration("took", time.Since(start)))...)
		if err := (reconcile.Report{DryRun: true, Plan: plan, Refused: errString(limitErr)}).Write(stdout, *format); err != nil {
			return err
		}
		return limitErr
	}

	res, err := reviewed.run(ctx, r, runID, log)
	run := finished(ctx, db, c.cfg, log, res, err, start)
	recordRun(ctx, c.cfg, log, run)
	if res != nil {
		defer res.Close()
		log.Info("run finished", runFields(run)...)
		if nc := reconcile.NotChecked(res.Plan); nc != "" {
			log.Info("not checked: " + nc)
		}
		if werr := (reconcile.Report{Plan: res.Plan, Result: res, Refused: errString(limitOf(err))}).Write(stdout, *format); werr != nil {
			err = errors.Join(err, werr)
		}
	}
	if errors.Is(err, reconcile.ErrLocked) {
		// A scheduled run that finds another one working is skipped, not
		// failed: the run holding the lock does the work, and the next tick
		// catches up through the watermark. Applying a reviewed plan is a
		// person's request: that one exits 4, so they know it was not done.
		log.Warn("skipped: another run holds the lock; nothing done",
			zap.String("reason", prometheus.ReasonLocked), zap.Duration("running_run_age", run.RunningAge))
		if *reviewed.in == "" {
			return nil
		}
	}
	return err
}

// newReconciler is the run loop over store with the configured policy,
// limits and options.
func newReconciler(cfg config.Config, store reconcile.Store, log *zap.Logger) *reconcile.Reconciler {
	return &reconcile.Reconciler{Store: store, Policy: cfg.Policy, Limits: cfg.Limits, Options: cfg.Run, Log: log.Named("reconcile")}
}

// finished is a run's outcome for the metrics and the log; when the lock
// was taken, with the age of the run holding it.
func finished(ctx context.Context, db *sqlx.DB, cfg config.Config, log *zap.Logger, res *reconcile.Result, err error, start time.Time) prometheus.Run {
	run := prometheus.Run{Result: res, Err: err, Canceled: ctx.Err() != nil, Started: start}
	if errors.Is(err, reconcile.ErrLocked) {
		run.RunningAge = runningAge(ctx, db, cfg.Run.Shard, log)
	}
	run.Ended = time.Now()
	return run
}

// runFields are the log fields of a finished run: its totals, scope, what it
// skipped, where it planned and how long it took.
func runFields(run prometheus.Run) []zap.Field {
	fields := []zap.Field{zap.String("status", run.Status()), zap.Duration("took", run.Ended.Sub(run.Started))}
	if res := run.Result; res != nil {
		fields = append(fields, totalsFields(res.Issued())...)
		fields = append(fields, zap.String("scope", res.Plan.Scope), zap.Int64("skipped", res.SkippedCount()),
			zap.Int64("planned", res.Plan.Totals().Refunds), zap.String("planned_on", res.Plan.PlannedOn),
			zap.Duration("replica_lag", res.Plan.ReplicaLag),
			zap.Duration("oldest_owed_age", prometheus.OldestOwedAge(res, run.Ended.Sub(run.Started))))
	}
	return fields
}

// runningAge is how long the run holding the lock has been going, for the
// running_run_age_seconds gauge; 0, logged, when it cannot be read.
func runningAge(ctx context.Context, db *sqlx.DB, shard reconcile.Shard, log *zap.Logger) time.Duration {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	age, err := postgres.RunningAge(ctx, db, shard)
	if err != nil {
		log.Warn("age of the run holding the lock not read", zap.Error(err))
	}
	return age
}

func limitOf(err error) error {
	var l *reconcile.LimitError
	if errors.As(err, &l) {
		return l
	}
	return nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func totalsFields(t reconcile.Totals) []zap.Field {
	fields := []zap.Field{zap.Int64("refunds", t.Refunds), zap.Int64("connects", t.Connects),
		zap.Int64("discrepancies", t.Discrepancies), zap.Int64("pending", t.Pending)}
	for _, rule := range reconcile.Rules {
		a := t.ByRule[rule]
		fields = append(fields, zap.Int64(string(rule)+"_refunds", a.Refunds), zap.Int64(string(rule)+"_connects", a.Connects))
	}
	return fields
}
