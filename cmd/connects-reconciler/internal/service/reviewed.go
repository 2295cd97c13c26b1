package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"time"

	"go.uber.org/zap"

	"github.com/connects/connects-reconciler/internal/atomicfile"
	"github.com/connects/connects-reconciler/reconcile"
)

// DefaultPlanMaxAge is how old a reviewed plan may be when applied, unless
// the run says otherwise.
const DefaultPlanMaxAge = 24 * time.Hour

// PlanError is bad input about a reviewed plan: flags that do not go
// together, or a plan file that cannot be read, is not a plan, was edited or
// is too old. Not worth retrying (exit code 2).
type PlanError struct{ msg string }

func (e *PlanError) Error() string { return e.msg }

func planError(format string, a ...any) error { return &PlanError{fmt.Sprintf(format, a...)} }

// Reviewed is a run's reviewed plan: save a dry run's plan for review (Out),
// then apply exactly that plan (In), if it is no older than MaxAge (0: any
// age) by the database's clock.
type Reviewed struct {
	Out, In string
	MaxAge  time.Duration
}

// Check validates the settings together, before anything is opened.
func (f Reviewed) Check(dryRun bool) error {
	switch {
	case f.Out != "" && !dryRun:
		return planError("run: --plan-out saves the plan of a dry run: add --dry-run (then apply the file with --plan)")
	case f.Out != "" && f.In != "":
		return planError("run: give --plan-out or --plan, not both")
	case f.MaxAge < 0:
		return planError("run: --plan-max-age must not be negative, got %s", f.MaxAge)
	}
	return nil
}

// Plan returns the reviewed plan of In, or else plans anew. A reviewed
// plan sets the run's shard (its lock) to the plan's.
func (f Reviewed) Plan(ctx context.Context, r *reconcile.Reconciler, log *zap.Logger) (*reconcile.Plan, error) {
	if f.In == "" {
		return r.Plan(ctx)
	}
	return f.load(ctx, r, log)
}

// Run applies the reviewed plan of In, or else runs as usual.
func (f Reviewed) Run(ctx context.Context, r *reconcile.Reconciler, runID string, log *zap.Logger) (*reconcile.Result, error) {
	if f.In == "" {
		return r.Run(ctx, runID)
	}
	plan, err := f.load(ctx, r, log)
	if err != nil {
		return nil, err
	}
	return r.RunPlan(ctx, runID, plan)
}

// load reads and verifies the plan file, by the database's clock. A bad,
// edited or too old file is a PlanError.
func (f Reviewed) load(ctx context.Context, r *reconcile.Reconciler, log *zap.Logger) (*reconcile.Plan, error) {
	now, err := r.Store.Clock(ctx)
	if err != nil {
		return nil, err
	}
	file, err := os.Open(f.In)
	if err != nil {
		return nil, planError("--plan: %v", err)
	}
	defer file.Close()
	plan, err := reconcile.ReadPlan(file, now, f.MaxAge)
	if err != nil {
		if errors.Is(err, reconcile.ErrPlanInvalid) || errors.Is(err, reconcile.ErrPlanEdited) || errors.Is(err, reconcile.ErrPlanTooOld) {
			return nil, planError("--plan %s refused: %v", f.In, err)
		}
		return nil, fmt.Errorf("read plan %s: %w", f.In, err)
	}
	shard, err := reconcile.ParseShard(plan.Shard)
	if err != nil {
		return nil, planError("--plan %s: shard: %v", f.In, err)
	}
	if shard != r.Options.Shard {
		log.Info("the reviewed plan is for another shard than configured; its shard's lock is taken",
			zap.String("plan_shard", plan.Shard), zap.String("configured_shard", r.Options.Shard.String()))
		r.Options.Shard = shard
	}
	if !reflect.DeepEqual(plan.Policy, r.Policy) {
		log.Warn("the reviewed plan was made under another policy than configured; the plan's policy applies")
	}
	log.Info("reviewed plan accepted", zap.String("file", f.In), zap.Time("made_at", plan.AsOf),
		zap.Duration("age", now.Sub(plan.AsOf).Round(time.Second)), zap.Int64("refunds", plan.Totals().Refunds))
	return plan, nil
}

// Save writes a dry run's plan to Out, when set, through a temporary file
// renamed into place.
func (f Reviewed) Save(plan *reconcile.Plan, log *zap.Logger) error {
	if f.Out == "" {
		return nil
	}
	if _, err := atomicfile.Write(f.Out, func(w io.Writer) error { return reconcile.WritePlan(w, plan) }); err != nil {
		return fmt.Errorf("save plan: %w", err)
	}
	log.Info("plan saved for review", zap.String("file", f.Out), zap.Int64("refunds", plan.Totals().Refunds))
	return nil
}
