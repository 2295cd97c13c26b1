package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"time"

	"go.uber.org/zap"

	"github.com/connects/connects-reconciler/internal/atomicfile"
	"github.com/connects/connects-reconciler/reconcile"
)

// planFlags are run's reviewed-plan flags: save a dry run's plan for review,
// then apply exactly that plan.
type planFlags struct {
	out    *string
	in     *string
	maxAge *time.Duration
	log    *zap.Logger
}

// defaultPlanMaxAge is how old a reviewed plan may be when applied, unless
// --plan-max-age says.
const defaultPlanMaxAge = 24 * time.Hour

func addPlanFlags(fs *flag.FlagSet) *planFlags {
	return &planFlags{
		out: fs.String("plan-out", "", "with --dry-run: also save the plan to FILE for review (every refund with its key, rule and amount, the discrepancies, the policy, a fingerprint)"),
		in:  fs.String("plan", "", "apply exactly the reviewed plan in FILE (made by --dry-run --plan-out) instead of planning; with --dry-run only check and show it"),
		maxAge: fs.Duration("plan-max-age", defaultPlanMaxAge,
			"refuse a --plan older than this, by the database's clock (0: any age)"),
	}
}

// check validates the flags together, before anything is opened.
func (f *planFlags) check(dryRun bool) error {
	switch {
	case *f.out != "" && !dryRun:
		return usageError{"run: --plan-out saves the plan of a dry run: add --dry-run (then apply the file with --plan)"}
	case *f.out != "" && *f.in != "":
		return usageError{"run: give --plan-out or --plan, not both"}
	case *f.maxAge < 0:
		return usageError{fmt.Sprintf("run: --plan-max-age must not be negative, got %s", *f.maxAge)}
	}
	return nil
}

// plan returns the reviewed plan of --plan, or else plans anew. A reviewed
// plan sets the run's shard (its lock) to the plan's.
func (f *planFlags) plan(ctx context.Context, r *reconcile.Reconciler, log *zap.Logger) (*reconcile.Plan, error) {
	f.log = log
	if *f.in == "" {
		return r.Plan(ctx)
	}
	return f.load(ctx, r)
}

// run applies the reviewed plan of --plan, or else runs as usual.
func (f *planFlags) run(ctx context.Context, r *reconcile.Reconciler, runID string, log *zap.Logger) (*reconcile.Result, error) {
	f.log = log
	if *f.in == "" {
		return r.Run(ctx, runID)
	}
	plan, err := f.load(ctx, r)
	if err != nil {
		return nil, err
	}
	return r.RunPlan(ctx, runID, plan)
}

// load reads and verifies the plan file, by the database's clock. A bad,
// edited or too old file is bad input: a usage error (exit code 2).
func (f *planFlags) load(ctx context.Context, r *reconcile.Reconciler) (*reconcile.Plan, error) {
	now, err := r.Store.Clock(ctx)
	if err != nil {
		return nil, err
	}
	file, err := os.Open(*f.in)
	if err != nil {
		return nil, usageError{fmt.Sprintf("--plan: %v", err)}
	}
	defer file.Close()
	plan, err := reconcile.ReadPlan(file, now, *f.maxAge)
	if err != nil {
		if errors.Is(err, reconcile.ErrPlanInvalid) || errors.Is(err, reconcile.ErrPlanEdited) || errors.Is(err, reconcile.ErrPlanTooOld) {
			return nil, usageError{fmt.Sprintf("--plan %s refused: %v", *f.in, err)}
		}
		return nil, fmt.Errorf("read plan %s: %w", *f.in, err)
	}
	shard, err := reconcile.ParseShard(plan.Shard)
	if err != nil {
		return nil, usageError{fmt.Sprintf("--plan %s: shard: %v", *f.in, err)}
	}
	if shard != r.Options.Shard {
		f.log.Info("the reviewed plan is for another shard than configured; its shard's lock is taken",
			zap.String("plan_shard", plan.Shard), zap.String("configured_shard", r.Options.Shard.String()))
		r.Options.Shard = shard
	}
	if !reflect.DeepEqual(plan.Policy, r.Policy) {
		f.log.Warn("the reviewed plan was made under another policy than configured; the plan's policy applies")
	}
	f.log.Info("reviewed plan accepted", zap.String("file", *f.in), zap.Time("made_at", plan.AsOf),
		zap.Duration("age", now.Sub(plan.AsOf).Round(time.Second)), zap.Int64("refunds", plan.Totals().Refunds))
	return plan, nil
}

// save writes a dry run's plan to --plan-out, when given, through a
// temporary file renamed into place.
func (f *planFlags) save(plan *reconcile.Plan) error {
	if *f.out == "" {
		return nil
	}
	if _, err := atomicfile.Write(*f.out, func(w io.Writer) error { return reconcile.WritePlan(w, plan) }); err != nil {
		return fmt.Errorf("save plan: %w", err)
	}
	if f.log != nil {
		f.log.Info("plan saved for review", zap.String("file", *f.out), zap.Int64("refunds", plan.Totals().Refunds))
	}
	return nil
}
