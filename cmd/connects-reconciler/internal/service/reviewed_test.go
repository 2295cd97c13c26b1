package service

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/connects/connects-reconciler/reconcile"
)

// clockStore is a store that only tells the time: loading a reviewed plan
// reads nothing else.
type clockStore struct {
	reconcile.Store
	now time.Time
}

func (s clockStore) Clock(context.Context) (time.Time, error) { return s.now, nil }

func TestReviewedCheck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		r      Reviewed
		dryRun bool
		want   string
	}{
		{Reviewed{Out: "p.json", MaxAge: time.Hour}, true, ""},
		{Reviewed{In: "p.json"}, false, ""},
		{Reviewed{Out: "p.json"}, false, "run: --plan-out saves the plan of a dry run: add --dry-run (then apply the file with --plan)"},
		{Reviewed{Out: "p.json", In: "q.json"}, true, "run: give --plan-out or --plan, not both"},
		{Reviewed{MaxAge: -time.Minute}, false, "run: --plan-max-age must not be negative, got -1m0s"},
	} {
		err := tc.r.Check(tc.dryRun)
		var pe *PlanError
		if tc.want == "" && err != nil || tc.want != "" && (!errors.As(err, &pe) || err.Error() != tc.want) {
			t.Errorf("%+v dry run %v: got %v, want %q", tc.r, tc.dryRun, err, tc.want)
		}
	}
}

// A saved plan loads back (taking its shard's lock); a missing, edited or
// too old file is a PlanError naming the file.
func TestReviewedSaveAndLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	made := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	plan := &reconcile.Plan{AsOf: made, SettleCutoff: made.Add(-15 * time.Minute), Policy: reconcile.DefaultPolicy(), Scope: "full", Shard: "1/4"}
	if err := plan.Add(reconcile.Verdict{ProposalID: 7, JobID: 1, FreelancerID: 70, Component: reconcile.Base,
		Rule: reconcile.RuleClosedWithoutHire, Charged: 4, State: reconcile.MissingRefund}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "plan.json")
	if err := (Reviewed{Out: path}).Save(plan, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	r := &reconcile.Reconciler{Store: clockStore{now: made.Add(time.Hour)}, Policy: reconcile.DefaultPolicy()}
	got, err := Reviewed{In: path, MaxAge: 24 * time.Hour}.Plan(context.Background(), r, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if got.Totals().Refunds != 1 || r.Options.Shard.String() != "1/4" {
		t.Errorf("loaded %d refunds, shard %s; want 1 and the plan's shard 1/4", got.Totals().Refunds, r.Options.Shard)
	}

	text, _ := os.ReadFile(path)
	edited := filepath.Join(dir, "edited.json")
	if err := os.WriteFile(edited, []byte(strings.Replace(string(text), `"connects":4`, `"connects":40`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		r    Reviewed
		want string
	}{
		"missing": {Reviewed{In: filepath.Join(dir, "none.json")}, "--plan: open "},
		"edited":  {Reviewed{In: edited}, "--plan " + edited + " refused: plan file was edited"},
		"too old": {Reviewed{In: path, MaxAge: time.Minute}, "--plan " + path + " refused: "},
	} {
		_, err := tc.r.Plan(context.Background(), r, zap.NewNop())
		var pe *PlanError
		if !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want a PlanError starting %q", name, err, tc.want)
		}
	}
}
