package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jmoiron/sqlx"
	"go.uber.org/zap/zaptest"

	"github.com/connects/connects-reconciler/reconcile"
	"github.com/connects/connects-reconciler/reconcile/postgres"
	"github.com/connects/connects-reconciler/reconcile/postgres/pgtest"
)

// invoke runs the program as main would, with env as the whole environment.
func invoke(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	var environ []string
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	code = program(context.Background(), args, environ, &out, &errOut)
	return code, out.String(), errOut.String()
}

// smallMarket makes a database with three missing refunds (12 Connects), one
// refund written online, and one discrepancy.
func smallMarket(t *testing.T) (string, *sqlx.DB) {
	t.Helper()
	url := pgtest.NewURL(t)
	db := sqlx.MustOpen("postgres", url)
	t.Cleanup(func() { db.Close() })
	db.MustExec(`
	INSERT INTO jobs (id, client_id, status, close_reason, closed_at) VALUES
	    (1, 1, 'closed', 'no_hire', now() - interval '2 hours'),
	    (2, 1, 'removed', 'tos_violation', now() - interval '3 hours'),
	    (3, 1, 'open', NULL, NULL);
	INSERT INTO proposals (id, job_id, freelancer_id, submitted_at) VALUES
	    (10, 1, 100, now() - interval '1 day'), (11, 1, 101, now() - interval '1 day'),
	    (20, 2, 100, now() - interval '1 day'), (30, 3, 102, now() - interval '1 day');
	INSERT INTO connects_ledger (freelancer_id, amount, entry_type, proposal_id, component, idempotency_key) VALUES
	    (100, 50, 'purchase', NULL, NULL, 'p100'), (101, 50, 'purchase', NULL, NULL, 'p101'), (102, 50, 'purchase', NULL, NULL, 'p102'),
	    (100, -4, 'proposal_fee', 10, 'base', 'f10'), (101, -4, 'proposal_fee', 11, 'base', 'f11'),
	    (100, -2, 'proposal_fee', 20, 'base', 'f20'), (100, -6, 'boost_fee', 20, 'boost', 'b20'),
	    (101, 4, 'refund', 11, 'base', 'online:11'),
	    (102, -4, 'proposal_fee', 30, 'base', 'f30'), (102, 4, 'refund', 30, 'base', 'online:30');
	INSERT INTO connects_balances (freelancer_id, balance)
	    SELECT freelancer_id, sum(amount) FROM connects_ledger GROUP BY freelancer_id;`)
	return url, db
}

type jsonOut struct {
	DryRun  bool `json:"dry_run"`
	Refunds []struct {
		ProposalID   int64  `json:"proposal_id"`
		FreelancerID int64  `json:"freelancer_id"`
		JobID        int64  `json:"job_id"`
		Component    string `json:"component"`
		Connects     int64  `json:"connects"`
		Rule         string `json:"rule"`
	} `json:"refunds"`
	Discrepancies []struct {
		ProposalID int64  `json:"proposal_id"`
		Component  string `json:"component"`
		Kind       string `json:"kind"`
	} `json:"discrepancies"`
	Totals struct {
		Refunds  int64 `json:"refunds"`
		Connects int64 `json:"connects"`
	} `json:"totals"`
}

func TestDryRunThenRun(t *testing.T) {
	t.Parallel()
	url, db := smallMarket(t)
	env := map[string]string{"DATABASE_URL": url}

	code, stdout, stderr := invoke(t, env, "run", "--dry-run", "--format", "json")
	if code != exitOK {
		t.Fatalf("dry run: exit %d, stderr:\n%s", code, stderr)
	}
	var plan jsonOut
	if err := json.Unmarshal([]byte(stdout), &plan); err != nil {
		t.Fatalf("dry run stdout is not one JSON object: %v\n%s", err, stdout)
	}
	if !plan.DryRun || plan.Totals.Refunds != 3 || plan.Totals.Connects != 12 || len(plan.Refunds) != 3 {
		t.Errorf("dry run: got %+v, want 3 refunds of 12 Connects", plan)
	}
	if len(plan.Discrepancies) != 1 || plan.Discrepancies[0].Kind != "unexpected_refund" || plan.Discrepancies[0].ProposalID != 30 {
		t.Errorf("dry run discrepancies: got %+v, want unexpected_refund on proposal 30", plan.Discrepancies)
	}
	var n int
	db.Get(&n, `SELECT count(*) FROM connects_ledger WHERE entry_type = 'refund'`)
	if n != 2 {
		t.Fatalf("dry run wrote to the ledger: %d refunds, want 2", n)
	}
	db.Get(&n, `SELECT count(*) FROM reconciler_runs`)
	if n != 0 {
		t.Errorf("dry run recorded %d runs, want none", n)
	}

	code, stdout, stderr = invoke(t, env, "run", "--format", "json")
	if code != exitOK {
		t.Fatalf("run: exit %d, stderr:\n%s", code, stderr)
	}
	var done jsonOut
	if err := json.Unmarshal([]byte(stdout), &done); err != nil {
		t.Fatalf("run stdout: %v\n%s", err, stdout)
	}
	if done.Totals.Refunds != 3 || done.Totals.Connects != 12 {
		t.Errorf("run wrote %+v, want the dry run's 3 refunds of 12 Connects", done.Totals)
	}
	for i := range plan.Refunds {
		if plan.Refunds[i] != done.Refunds[i] {
			t.Errorf("refund %d: dry run %+v, run %+v", i, plan.Refunds[i], done.Refunds[i])
		}
	}
	var run struct {
		Status   string `db:"status"`
		Issued   int64  `db:"refunds_issued"`
		Connects int64  `db:"connects_issued"`
		ByRule   string `db:"issued_by_rule"`
	}
	if err := db.Get(&run, `SELECT status, refunds_issued, connects_issued, issued_by_rule::text FROM reconciler_runs`); err != nil {
		t.Fatal(err)
	}
	if run.Status != "succeeded" || run.Issued != 3 || run.Connects != 12 || !strings.Contains(run.ByRule, "tos_removed/boost") {
		t.Errorf("run record: got %+v", run)
	}
	db.Get(&n, `SELECT count(*) FROM reconciler_refunds`)
	if n != 3 {
		t.Errorf("audit rows: got %d, want 3", n)
	}

	code, stdout, _ = invoke(t, env, "run", "--format", "table")
	if code != exitOK || !strings.Contains(stdout, "REFUNDS WRITTEN (0)") {
		t.Errorf("second run: exit %d, want 0 and nothing written:\n%s", code, stdout)
	}
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	url, db := smallMarket(t)

	t.Run("bad configuration names every problem", func(t *testing.T) {
		code, _, stderr := invoke(t, map[string]string{"RECONCILER_MAX_REFUNDS": "many"},
			"run", "--settle-delay", "soon", "--log-format", "xml")
		if code != exitUsage {
			t.Errorf("exit %d, want %d", code, exitUsage)
		}
		for _, want := range []string{"RECONCILER_MAX_REFUNDS", "--settle-delay", "--log-format", "DATABASE_URL"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr does not name %s:\n%s", want, stderr)
			}
		}
	})
	t.Run("unknown command and flag", func(t *testing.T) {
		if code, _, _ := invoke(t, nil, "sweep"); code != exitUsage {
			t.Errorf("unknown command: exit %d, want %d", code, exitUsage)
		}
		if code, _, _ := invoke(t, map[string]string{"DATABASE_URL": url}, "run", "--nope"); code != exitUsage {
			t.Errorf("unknown flag: exit %d, want %d", code, exitUsage)
		}
		// A near miss names the flag meant, in one line, without the usage page.
		code, _, stderr := invoke(t, map[string]string{"DATABASE_URL": url}, "run", "--dry-rn")
		if code != exitUsage || !strings.Contains(stderr, "did you mean --dry-run?") || strings.Contains(stderr, "Usage:") ||
			strings.Count(stderr, "dry-rn") != 1 {
			t.Errorf("mistyped flag: exit %d, want %d, one line with a suggestion and no usage page:\n%s", code, exitUsage, stderr)
		}
		if _, _, stderr := invoke(t, map[string]string{"DATABASE_URL": url}, "run", "--zzzzzzzz"); strings.Contains(stderr, "did you mean") {
			t.Errorf("a flag like no other gets a suggestion:\n%s", stderr)
		}
		if code, _, stderr := invoke(t, nil, "run", "-h"); code != exitOK || strings.Count(stderr, "Usage:") != 1 {
			t.Errorf("run -h: exit %d, want the usage page once:\n%s", code, stderr)
		}
	})
	t.Run("console: no colour off a terminal or with NO_COLOR, a compact configuration line", func(t *testing.T) {
		for _, env := range []map[string]string{{"DATABASE_URL": url}, {"DATABASE_URL": url, "NO_COLOR": "1"}} {
			code, _, stderr := invoke(t, env, "run", "--dry-run", "--log-format", "console", "--settle-delay", "1m", "--full")
			if code != exitOK || strings.Contains(stderr, "\x1b[") {
				t.Errorf("console log to a buffer (env %v): exit %d, want 0 and no ANSI escape:\n%q", env, code, stderr)
			}
			var config string
			for _, line := range strings.Split(stderr, "\n") {
				if strings.Contains(line, "\tconfiguration\t") {
					config = line
				}
			}
			if config == "" || len(config) > 250 || !strings.Contains(config, "settle_delay=1m0s full=true") {
				t.Errorf("configuration line (%d chars): want one under 250 naming what differs from the defaults:\n%s", len(config), stderr)
			}
		}
	})
	t.Run("unreachable database, password never printed", func(t *testing.T) {
		code, stdout, stderr := invoke(t, map[string]string{"DATABASE_URL": "postgres://app:s3cr3t-pw@127.0.0.1:1/x?sslmode=disable"}, "run")
		if code != exitFailed {
			t.Errorf("exit %d, want %d", code, exitFailed)
		}
		if strings.Contains(stdout+stderr, "s3cr3t-pw") {
			t.Errorf("password printed:\n%s", stderr)
		}
		if !strings.Contains(stderr, "connect to database") {
			t.Errorf("message does not say what failed:\n%s", stderr)
		}
	})
	t.Run("safety limit refuses", func(t *testing.T) {
		code, _, stderr := invoke(t, map[string]string{"DATABASE_URL": url}, "run", "--dry-run", "--max-refunds", "2")
		if code != exitRefused || !strings.Contains(stderr, "max-refunds 2") {
			t.Errorf("dry run over the limit: exit %d, want %d:\n%s", code, exitRefused, stderr)
		}
	})
	t.Run("another run holds the lock", func(t *testing.T) {
		store := postgres.NewStore(db, zaptest.NewLogger(t))
		release, err := store.Lock(context.Background(), reconcile.LockKey(reconcile.Shard{}))
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		// A run that started two hours ago holds it: the tick is skipped (exit
		// 0, not a failure) and reports the holder's age.
		db.MustExec(`INSERT INTO reconciler_runs (id, mode, scope, status, started_at, as_of, settle_cutoff, policy)
		    VALUES ('holder', 'run', 'full', 'running', now() - interval '2 hours', now(), now(), '{}')`)
		defer db.MustExec(`DELETE FROM reconciler_runs WHERE id = 'holder'`)
		code, _, stderr := invoke(t, map[string]string{"DATABASE_URL": url}, "run", "--log-format", "json")
		if code != exitOK || !lockSkipped(stderr) || !strings.Contains(stderr, `"running_run_age":720`) {
			t.Errorf("exit %d, want %d, skipped with the holder's age of 2h:\n%s", code, exitOK, stderr)
		}
		// Applying a reviewed plan is a person's request: exit 4, so they
		// know it was not applied.
		planFile := filepath.Join(t.TempDir(), "plan.json")
		if code, _, stderr := invoke(t, map[string]string{"DATABASE_URL": url}, "run", "--dry-run", "--plan-out", planFile); code != exitOK {
			t.Fatalf("dry run with --plan-out: exit %d\n%s", code, stderr)
		}
		if code, _, stderr := invoke(t, map[string]string{"DATABASE_URL": url}, "run", "--plan", planFile); code != exitLocked || !lockSkipped(stderr) {
			t.Errorf("run --plan with the lock taken: exit %d, want %d:\n%s", code, exitLocked, stderr)
		}
	})
}

// Two runs started at the same moment: one writes, the other waits its turn
// or is skipped; nobody is credited twice.
func TestConcurrentRuns(t *testing.T) {
	t.Parallel()
	url, db := smallMarket(t)
	env := map[string]string{"DATABASE_URL": url}
	for round := 0; round < 5; round++ {
		var wg sync.WaitGroup
		codes := make([]int, 2)
		for i := range codes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[i], _, _ = invoke(t, env, "run", "--format", "json")
			}()
		}
		wg.Wait()
		for _, c := range codes {
			if c != exitOK {
				t.Fatalf("round %d: exit codes %v, want 0 (a run that finds the lock taken is skipped)", round, codes)
			}
		}
	}
	var refunds, doubles int
	db.Get(&refunds, `SELECT count(*) FROM connects_ledger WHERE entry_type = 'refund'`)
	db.Get(&doubles, `SELECT count(*) FROM (SELECT 1 FROM connects_ledger WHERE entry_type = 'refund'
	                  GROUP BY proposal_id, component HAVING count(*) > 1) d`)
	if refunds != 5 || doubles != 0 {
		t.Errorf("ledger: %d refunds (want 5), %d doubled components (want 0)", refunds, doubles)
	}
}

// Without the lock, two writers applying the same plan at once still credit
// each component once: the unique index and ON CONFLICT decide.
func TestConcurrentApplyWithoutLock(t *testing.T) {
	t.Parallel()
	_, db := smallMarket(t)
	log := zaptest.NewLogger(t)
	r := &reconcile.Reconciler{Store: postgres.NewStore(db, log), Policy: reconcile.DefaultPolicy(), Log: log}
	plan, err := r.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	refunds, err := plan.Refunds()
	if err != nil {
		t.Fatal(err)
	}
	batch := make([]reconcile.Verdict, len(refunds))
	for i, rf := range refunds {
		batch[i] = reconcile.Verdict(rf)
	}
	db.MustExec(`INSERT INTO reconciler_runs (id, mode, scope, status, as_of, settle_cutoff, policy)
	             VALUES ('a', 'run', 'full', 'running', now(), now(), '{}'), ('b', 'run', 'full', 'running', now(), now(), '{}')`)
	var wg sync.WaitGroup
	written := make([][]reconcile.Written, 2)
	for i, id := range []string{"a", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, err := r.Store.Apply(context.Background(), id, plan.Policy, plan.SettleCutoff, batch, reconcile.ApplyOptions{})
			if err != nil {
				t.Errorf("apply %s: %v", id, err)
			}
			written[i] = w
		}()
	}
	wg.Wait()
	if got := len(written[0]) + len(written[1]); got != 3 {
		t.Errorf("the two writers wrote %d refunds together, want 3", got)
	}
	var bad int
	db.Get(&bad, `SELECT count(*) FROM connects_balances b
	              JOIN (SELECT freelancer_id, sum(amount) s FROM connects_ledger GROUP BY 1) l USING (freelancer_id)
	              WHERE b.balance <> l.s`)
	if bad != 0 {
		t.Errorf("%d balances differ from their ledger sums", bad)
	}
}
