package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"go.uber.org/zap"

	"github.com/connects/connects-reconciler/cmd/connects-reconciler/internal/service"
	"github.com/connects/connects-reconciler/config"
	"github.com/connects/connects-reconciler/internal/atomicfile"
	"github.com/connects/connects-reconciler/reconcile"
)

func cmdRun(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newCommand("run", "Plan the missing refunds, check the safety limits, write them.", stderr,
		config.GroupPolicy, config.GroupLimits, config.GroupRun, config.GroupMetrics)
	dryRun := c.fs.Bool("dry-run", false, "report what would be refunded and why; write nothing")
	format := c.fs.String("format", "", "output: table or json (default table on a terminal, json otherwise)")
	out := c.fs.String("plan-out", "", "with --dry-run: also save the plan to FILE for review (every refund with its key, rule and amount, the discrepancies, the policy, a fingerprint)")
	in := c.fs.String("plan", "", "apply exactly the reviewed plan in FILE (made by --dry-run --plan-out) instead of planning; with --dry-run only check and show it")
	maxAge := c.fs.Duration("plan-max-age", service.DefaultPlanMaxAge, "refuse a --plan older than this, by the database's clock (0: any age)")
	if err := c.parse(ctx, args, getenv, stderr); err != nil {
		return err
	}
	reviewed := service.Reviewed{Out: *out, In: *in, MaxAge: *maxAge}
	if err := reviewed.Check(*dryRun); err != nil {
		return err
	}
	if *out != "" {
		if err := atomicfile.Check(*out); err != nil {
			return usageError{"run: --plan-out " + err.Error()}
		}
	}
	switch *format {
	case "":
		*format = "json"
		if service.IsTerminal(stdout) {
			*format = "table"
		}
	case "table", "json":
	default:
		return usageError{fmt.Sprintf("run: --format must be table or json, got %q", *format)}
	}

	runID, start, log := service.Begin(c.log)
	service.LogConfig(log, c.cfg)
	// Planning reads the replica; applying a reviewed plan plans nothing and
	// needs only the database (the replica, when it answers, throttles it).
	open := c.openReading
	if reviewed.In != "" {
		open = c.openApplying
	}
	db, err := open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	defer c.closeReplica()

	if *dryRun {
		r := service.NewReconciler(c.cfg, c.newStore(db, log), log)
		r.Progress = c.progress(log)
		plan, err := reviewed.Plan(ctx, r, log)
		if err != nil {
			return fmt.Errorf("plan: %w", err)
		}
		defer plan.Close()
		if err := reviewed.Save(plan, log); err != nil {
			return err
		}
		limitErr := c.cfg.Limits.Check(plan.Totals())
		log.Info("dry run planned", append(service.TotalsFields(plan.Totals()), zap.Duration("took", time.Since(start)))...)
		if err := (reconcile.Report{DryRun: true, Plan: plan, Refused: errString(limitErr)}).Write(stdout, *format); err != nil {
			return err
		}
		return limitErr
	}

	job := service.Job{Config: c.cfg, Store: c.newStore, Metrics: service.Pushgateway{Config: c.cfg, Log: log}, Live: c.live}
	res, _, err := job.Once(ctx, db, reviewed, runID, start, log)
	if res != nil {
		defer res.Close()
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
		if reviewed.In == "" {
			return nil
		}
	}
	return err
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
