package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// Review, then apply: the saved plan is applied exactly. Between the plan
// and the apply, a planned job is reopened, another planned refund is written
// online, and a new refund becomes owed: the first two are skipped and
// reported, nothing is doubled, the new one is not written.
func TestReviewedPlan(t *testing.T) {
	t.Parallel()
	url, db := smallMarket(t)
	env := map[string]string{"DATABASE_URL": url}
	planFile := filepath.Join(t.TempDir(), "plan.json")

	code, _, stderr := invoke(t, env, "run", "--dry-run", "--plan-out", planFile)
	if code != exitOK {
		t.Fatalf("dry run: exit %d:\n%s", code, stderr)
	}
	b, err := os.ReadFile(planFile)
	if err != nil {
		t.Fatal(err)
	}
	var saved struct {
		Fingerprint string `json:"fingerprint"`
		Refunds     []struct {
			Key string `json:"idempotency_key"`
		} `json:"refunds"`
	}
	if err := json.Unmarshal(b, &saved); err != nil || !strings.HasPrefix(saved.Fingerprint, "sha256:") {
		t.Fatalf("plan file: %v, fingerprint %q", err, saved.Fingerprint)
	}
	var keys []string
	for _, r := range saved.Refunds {
		keys = append(keys, r.Key)
	}
	if want := []string{"refund:10:base", "refund:20:base", "refund:20:boost"}; !reflect.DeepEqual(keys, want) {
		t.Fatalf("planned: got %v, want %v", keys, want)
	}
	var n int
	db.Get(&n, `SELECT count(*) FROM reconciler_runs`)
	if n != 0 {
		t.Fatalf("the dry run recorded %d runs", n)
	}

	// Refused: an edited plan, an old plan (exit 2), and nothing written.
	edited := filepath.Join(t.TempDir(), "edited.json")
	// The 20/boost refund's line, raised from 6 Connects to 60.
	changed := strings.Replace(string(b), `"connects":6,`, `"connects":60,`, 1)
	if changed == string(b) {
		t.Fatalf("plan file has no refund of 6 Connects to edit:\n%s", b)
	}
	os.WriteFile(edited, []byte(changed), 0o600)
	if code, _, stderr := invoke(t, env, "run", "--plan", edited); code != exitUsage || !strings.Contains(stderr, "fingerprint mismatch") {
		t.Errorf("edited plan: exit %d, want %d naming the fingerprint:\n%s", code, exitUsage, stderr)
	}
	if code, _, stderr := invoke(t, env, "run", "--plan", planFile, "--plan-max-age", "1ns"); code != exitUsage || !strings.Contains(stderr, "too old") {
		t.Errorf("old plan: exit %d, want %d saying it is too old:\n%s", code, exitUsage, stderr)
	}
	if code, _, _ := invoke(t, env, "run", "--plan", filepath.Join(t.TempDir(), "none.json")); code != exitUsage {
		t.Errorf("missing plan file: exit %d, want %d", code, exitUsage)
	}
	db.Get(&n, `SELECT count(*) FROM connects_ledger WHERE entry_type = 'refund'`)
	if n != 2 {
		t.Fatalf("refused plans wrote refunds: %d in the ledger, want the 2 from before", n)
	}

	// Meanwhile: job 1 reopened (10/base no longer owed), 20/base refunded
	// online, and job 4 closed without hire (40/base owed, not in the plan).
	db.MustExec(`
	UPDATE jobs SET status = 'open', close_reason = NULL, closed_at = NULL WHERE id = 1;
	INSERT INTO connects_ledger (freelancer_id, amount, entry_type, proposal_id, component, idempotency_key)
	    VALUES (100, 2, 'refund', 20, 'base', 'online:20:base');
	UPDATE connects_balances SET balance = balance + 2 WHERE freelancer_id = 100;
	INSERT INTO jobs (id, client_id, status, close_reason, closed_at) VALUES (4, 1, 'closed', 'no_hire', now() - interval '2 hours');
	INSERT INTO proposals (id, job_id, freelancer_id, submitted_at) VALUES (40, 4, 102, now() - interval '1 day');
	INSERT INTO connects_ledger (freelancer_id, amount, entry_type, proposal_id, component, idempotency_key)
	    VALUES (102, -3, 'proposal_fee', 40, 'base', 'f40');
	UPDATE connects_balances SET balance = balance - 3 WHERE freelancer_id = 102;`)

	code, stdout, stderr := invoke(t, env, "run", "--plan", planFile, "--format", "json")
	if code != exitOK {
		t.Fatalf("apply the plan: exit %d:\n%s", code, stderr)
	}
	var res struct {
		RunID   string `json:"run_id"`
		Status  string `json:"status"`
		Refunds []struct {
			ProposalID int64  `json:"proposal_id"`
			Component  string `json:"component"`
		} `json:"refunds"`
		Skipped []struct {
			ProposalID int64  `json:"proposal_id"`
			Component  string `json:"component"`
		} `json:"skipped"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("report: %v\n%s", err, stdout)
	}
	if res.Status != "succeeded" || len(res.Refunds) != 1 || res.Refunds[0].ProposalID != 20 || res.Refunds[0].Component != "boost" {
		t.Errorf("applied: status %s, wrote %+v; want 20/boost only", res.Status, res.Refunds)
	}
	if len(res.Skipped) != 2 || res.Skipped[0].ProposalID != 10 || res.Skipped[1].ProposalID != 20 {
		t.Errorf("skipped: got %+v, want 10/base and 20/base reported", res.Skipped)
	}

	var ledger []string
	db.Select(&ledger, `SELECT proposal_id || '/' || component || '=' || amount || ' ' || idempotency_key
	    FROM connects_ledger WHERE entry_type = 'refund' ORDER BY proposal_id, component`)
	want := []string{"11/base=4 online:11", "20/base=2 online:20:base", "20/boost=6 refund:20:boost", "30/base=4 online:30"}
	if !reflect.DeepEqual(ledger, want) {
		t.Errorf("ledger refunds:\n got %v\nwant %v", ledger, want)
	}
	var run struct {
		Mode    string `db:"mode"`
		Skipped int    `db:"refunds_skipped"`
	}
	db.Get(&run, `SELECT mode, refunds_skipped FROM reconciler_runs WHERE id = $1`, res.RunID)
	if run.Mode != "plan" || run.Skipped != 2 {
		t.Errorf("run record: got %+v, want mode plan, 2 skipped", run)
	}

	// Applying the same plan again writes nothing more.
	if code, stdout, _ := invoke(t, env, "run", "--plan", planFile, "--format", "table"); code != exitOK || !strings.Contains(stdout, "REFUNDS WRITTEN (0)") {
		t.Errorf("the plan again: exit %d:\n%s", code, stdout)
	}
}

// --plan with --dry-run checks the file and shows it, writing nothing.
func TestReviewedPlanDryRun(t *testing.T) {
	t.Parallel()
	url, db := smallMarket(t)
	env := map[string]string{"DATABASE_URL": url}
	planFile := filepath.Join(t.TempDir(), "plan.json")
	if code, _, stderr := invoke(t, env, "run", "--dry-run", "--plan-out", planFile, "--format", "table"); code != exitOK {
		t.Fatalf("dry run: exit %d:\n%s", code, stderr)
	}
	code, stdout, stderr := invoke(t, env, "run", "--dry-run", "--plan", planFile, "--format", "table")
	if code != exitOK || !strings.Contains(stdout, "REFUNDS TO WRITE (3)") {
		t.Errorf("check the plan: exit %d:\n%s\n%s", code, stdout, stderr)
	}
	var n int
	db.Get(&n, `SELECT count(*) FROM reconciler_runs`)
	if n != 0 {
		t.Errorf("checking a plan recorded %d runs", n)
	}
}
