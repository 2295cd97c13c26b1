package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
)

// runBinary runs the built program with DATABASE_URL and returns its exit
// code and output.
func runBinary(t *testing.T, bin, url string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"DATABASE_URL=" + url, "PATH=" + os.Getenv("PATH"), "RECONCILER_LOG_FORMAT=json"}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("%v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}

// exceptionRow is a row of reconciler_exceptions as the tests read it.
type exceptionRow struct {
	ProposalID    int64      `db:"proposal_id"`
	Component     string     `db:"component"`
	Kind          string     `db:"kind"`
	State         string     `db:"state"`
	FreelancerID  int64      `db:"freelancer_id"`
	RefundedTo    int64      `db:"refunded_to"`
	FirstSeenAt   time.Time  `db:"first_seen_at"`
	FirstRunID    string     `db:"first_run_id"`
	LastSeenAt    time.Time  `db:"last_seen_at"`
	LastRunID     string     `db:"last_run_id"`
	OpenSince     time.Time  `db:"open_since"`
	ClosedAt      *time.Time `db:"closed_at"`
	ClosedRunID   *string    `db:"closed_run_id"`
	ReopenedCount int64      `db:"reopened_count"`
	ReopenedAt    *time.Time `db:"reopened_at"`
}

func exceptionsOf(t *testing.T, db *sqlx.DB) map[string]exceptionRow {
	t.Helper()
	var rows []exceptionRow
	if err := db.Select(&rows, `SELECT proposal_id, component, kind, state, freelancer_id, refunded_to, first_seen_at,
	    first_run_id, last_seen_at, last_run_id, open_since, closed_at, closed_run_id, reopened_count, reopened_at
	    FROM reconciler_exceptions`); err != nil {
		t.Fatal(err)
	}
	out := map[string]exceptionRow{}
	for _, r := range rows {
		out[r.Kind+"/"+itoa(r.ProposalID)] = r
	}
	return out
}

func itoa(n int64) string { return jsonNum(n) }

func jsonNum(n int64) string { b, _ := json.Marshal(n); return string(b) }

func lastRun(t *testing.T, db *sqlx.DB) string {
	t.Helper()
	var id string
	if err := db.Get(&id, `SELECT id FROM reconciler_runs ORDER BY started_at DESC, id DESC LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	return id
}

// An exception's whole life through the real binary: found by a full run,
// still open (same first run, later last run) on the next, acknowledged with
// a note, left open by an incremental run after the data is corrected,
// closed by the next full sweep, reopened when it returns, the
// acknowledgement kept throughout. Dry runs record nothing. The
// discrepancies export ties out to the job's tables, wrong_account included.
func TestExceptionLifeThroughBinary(t *testing.T) {
	t.Parallel()
	built := buildBinaryAsync(t)
	url, db := smallMarket(t)
	// a wrong-account refund: proposal 12 charged 14 Connects to freelancer
	// 36, refunded online to freelancer 1
	db.MustExec(`
	INSERT INTO proposals (id, job_id, freelancer_id, submitted_at) VALUES (12, 1, 36, now() - interval '1 day');
	INSERT INTO connects_ledger (freelancer_id, amount, entry_type, proposal_id, component, idempotency_key) VALUES
	    (36, 50, 'purchase', NULL, NULL, 'p36'), (1, 50, 'purchase', NULL, NULL, 'p1'),
	    (36, -14, 'proposal_fee', 12, 'base', 'f12'), (1, 14, 'refund', 12, 'base', 'online:12');
	DELETE FROM connects_balances;
	INSERT INTO connects_balances (freelancer_id, balance)
	    SELECT freelancer_id, sum(amount) FROM connects_ledger GROUP BY freelancer_id;`)
	bin := built()
	run := func(args ...string) (string, string) {
		t.Helper()
		code, stdout, stderr := runBinary(t, bin, url, args...)
		if code != exitOK {
			t.Fatalf("%v: exit %d\n%s\n%s", args, code, stdout, stderr)
		}
		return stdout, stderr
	}

	// A dry run records nothing.
	run("run", "--dry-run", "--full", "--format", "json")
	if n := len(exceptionsOf(t, db)); n != 0 {
		t.Fatalf("a dry run recorded %d exceptions", n)
	}

	// 1. Found by a full run.
	run("run", "--full", "--format", "json")
	run1 := lastRun(t, db)
	ex := exceptionsOf(t, db)
	unexpected, wrong := ex["unexpected_refund/30"], ex["wrong_account/12"]
	if len(ex) != 2 || unexpected.State != "open" || wrong.State != "open" {
		t.Fatalf("after the first full run: %+v, want unexpected_refund on 30 and wrong_account on 12, open", ex)
	}
	if unexpected.FirstRunID != run1 || unexpected.LastRunID != run1 || !unexpected.FirstSeenAt.Equal(unexpected.OpenSince) {
		t.Errorf("first sighting: %+v, want first and last run %s", unexpected, run1)
	}
	if wrong.FreelancerID != 36 || wrong.RefundedTo != 1 {
		t.Errorf("wrong_account: charged %d, refunded to %d; want 36 and 1", wrong.FreelancerID, wrong.RefundedTo)
	}

	// 2. Still open on the next run: first seen stays, last seen moves.
	run("run", "--full", "--format", "json")
	run2 := lastRun(t, db)
	again := exceptionsOf(t, db)["unexpected_refund/30"]
	if again.State != "open" || again.FirstRunID != run1 || again.LastRunID != run2 || !again.FirstSeenAt.Equal(unexpected.FirstSeenAt) ||
		!again.LastSeenAt.After(unexpected.LastSeenAt) || again.ReopenedCount != 0 {
		t.Errorf("after the second run: %+v, want open, first run %s, last run %s", again, run1, run2)
	}

	// 3. Acknowledged with a note; bad flags and unknown exceptions exit 2.
	for _, bad := range [][]string{
		{"discrepancies", "ack", "--proposal", "30", "--component", "base", "--by", "ana"},                 // no note
		{"discrepancies", "ack", "--proposal", "30", "--component", "bse", "--note", "x", "--by", "ana"},   // bad component
		{"discrepancies", "ack", "--proposal", "999", "--component", "base", "--note", "x", "--by", "ana"}, // unknown
		{"discrepancies", "ack", "--proposal", "30", "--component", "base", "--kind", "amount_mismatch", "--note", "x", "--by", "ana"},
		{"discrepancies", "list", "--state", "shut"},
		{"discrepancies", "list", "--older-than", "a week"},
		{"discrepancies", "list", "--kind", "nope"},
		{"discrepancies", "frobnicate"},
	} {
		if code, _, stderr := runBinary(t, bin, url, bad...); code != exitUsage || !strings.Contains(stderr, "discrepancies") {
			t.Errorf("%v: exit %d, want %d with a message:\n%s", bad, code, exitUsage, stderr)
		}
	}
	out, _ := run("discrepancies", "ack", "--proposal", "30", "--component", "base",
		"--note", "online refund on an open job; support ticket 4411", "--by", "ana@finance")
	if !strings.Contains(out, "acknowledged proposal 30 base unexpected_refund") {
		t.Errorf("ack output: %s", out)
	}
	list, _ := run("discrepancies", "list")
	t.Logf("discrepancies list after the acknowledgement:\n%s", list)
	if !strings.Contains(list, "ana@finance") || !strings.Contains(list, "support ticket 4411") || !strings.Contains(list, "wrong_account") {
		t.Errorf("list lacks the acknowledgement or the wrong_account exception:\n%s", list)
	}

	// The export ties out to the job's tables.
	exportTiesOut(t, bin, url, db)

	// 4. The data is corrected (the job closed without hire: the online
	// refund is owed after all). An incremental run does not close it.
	db.MustExec(`UPDATE jobs SET status = 'closed', close_reason = 'no_hire', closed_at = now() - interval '2 hours' WHERE id = 3`)
	run("run", "--format", "json")
	var scope string
	db.Get(&scope, `SELECT scope FROM reconciler_runs WHERE id = $1`, lastRun(t, db))
	if scope != "incremental" {
		t.Fatalf("the run after two full ones was %s, want incremental", scope)
	}
	if st := exceptionsOf(t, db)["unexpected_refund/30"].State; st != "open" {
		t.Errorf("an incremental run closed the exception (state %s): only full sweeps close", st)
	}

	// 5. Closed by the full sweep that no longer finds it.
	run("run", "--full", "--format", "json")
	run4 := lastRun(t, db)
	closed := exceptionsOf(t, db)["unexpected_refund/30"]
	if closed.State != "closed" || closed.ClosedRunID == nil || *closed.ClosedRunID != run4 || closed.ClosedAt == nil {
		t.Errorf("after the correcting full sweep: %+v, want closed by %s", closed, run4)
	}
	if st := exceptionsOf(t, db)["wrong_account/12"].State; st != "open" {
		t.Errorf("wrong_account is %s, want still open", st)
	}
	closedList, _ := run("discrepancies", "list", "--state", "closed", "--format", "json")
	var listed struct {
		Exceptions []struct {
			ProposalID int64  `json:"ProposalID"`
			State      string `json:"state"`
			Ack        *struct {
				By   string `json:"by"`
				Note string `json:"note"`
			} `json:"ack"`
		} `json:"exceptions"`
	}
	if err := json.Unmarshal([]byte(closedList), &listed); err != nil {
		t.Fatalf("list --format json: %v\n%s", err, closedList)
	}
	if len(listed.Exceptions) != 1 || listed.Exceptions[0].State != "closed" || listed.Exceptions[0].Ack == nil ||
		listed.Exceptions[0].Ack.By != "ana@finance" {
		t.Errorf("closed exceptions: %s", closedList)
	}

	// 6. Reopened when it returns (the job reopened), by any run that finds
	// it; history kept: first seen, the last close, the acknowledgement.
	db.MustExec(`UPDATE jobs SET status = 'open', close_reason = NULL, closed_at = NULL WHERE id = 3`)
	run("run", "--full", "--format", "json")
	run5 := lastRun(t, db)
	back := exceptionsOf(t, db)["unexpected_refund/30"]
	if back.State != "open" || back.ReopenedCount != 1 || back.ReopenedAt == nil || !back.OpenSince.Equal(*back.ReopenedAt) ||
		back.FirstRunID != run1 || back.LastRunID != run5 || back.ClosedRunID == nil || *back.ClosedRunID != run4 {
		t.Errorf("after it returned: %+v, want reopened once by %s, first run %s, last close by %s", back, run5, run1, run4)
	}
	var acks int
	db.Get(&acks, `SELECT count(*) FROM reconciler_exception_acks`)
	if acks != 1 {
		t.Errorf("%d acknowledgements kept, want 1", acks)
	}
	list, _ = run("discrepancies", "list", "--state", "all")
	t.Logf("discrepancies list --state all after it reopened:\n%s", list)
	if !strings.Contains(list, "(before it reopened)") {
		t.Errorf("the old acknowledgement is not marked as of an earlier life:\n%s", list)
	}
	if out, _ := run("discrepancies", "list", "--older-than", "7d"); !strings.Contains(out, "0 exceptions") {
		t.Errorf("--older-than 7d lists young exceptions:\n%s", out)
	}
	if out, _ := run("discrepancies", "list", "--kind", "wrong_account"); !strings.Contains(out, "1 exceptions") {
		t.Errorf("--kind wrong_account:\n%s", out)
	}
	exportTiesOut(t, bin, url, db)

	// Ages: the wrong_account exception made 10 days old (the job's own
	// table) shows in --older-than and in the report's aging table.
	db.MustExec(`UPDATE reconciler_exceptions SET open_since = open_since - interval '10 days',
	    first_seen_at = first_seen_at - interval '10 days' WHERE kind = 'wrong_account'`)
	if out, _ := run("discrepancies", "list", "--older-than", "7d"); !strings.Contains(out, "wrong_account") || !strings.Contains(out, "1 exceptions") {
		t.Errorf("--older-than 7d:\n%s", out)
	}
	list, _ = run("discrepancies", "list", "--state", "all")
	t.Logf("discrepancies list --state all, wrong_account made 10 days old:\n%s", list)
	// The report reads the ages the next full sweep records.
	run("run", "--full", "--format", "json")
	page := filepath.Join(t.TempDir(), "report.html")
	run("report", "--from", "2026-01-01", "--to", "2027-01-01", "--out", page)
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Open exceptions by kind and age after the sweep (2)",
		`<tr><td>unexpected_refund</td><td class="n">1</td><td class="n">0</td><td class="n">0</td><td class="n">1</td>`,
		`<tr><td>wrong_account</td><td class="n">1</td><td class="n">1</td><td class="n">0</td><td class="n">1</td>`,
		`<tr class="total"><td>All kinds</td><td class="n">2</td><td class="n">1</td><td class="n">0</td><td class="n">2</td>`,
		// reopened: the acknowledgement of its earlier life is history, and
		// the aging table above counts it unacknowledged
		"no (before it reopened, ana@finance: online refund on an open job; support ticket 4411)"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the report lacks %s", want)
		}
	}
	if strings.Contains(string(b), "ana@finance: online refund on an open job; support ticket 4411</td>") {
		t.Errorf("the report shows the acknowledgement of the exception's earlier life as current")
	}
}

// exportTiesOut checks the discrepancies export against reconciler_exceptions
// right after a full run: every open exception is a row with its state,
// first seen and latest acknowledgement made since it last opened (one from
// an earlier life is not its acknowledgement), and every row is an
// exception.
func exportTiesOut(t *testing.T, bin, url string, db *sqlx.DB) {
	t.Helper()
	code, stdout, stderr := runBinary(t, bin, url, "export", "--kind", "discrepancies", "--format", "json")
	if code != exitOK {
		t.Fatalf("export: exit %d\n%s", code, stderr)
	}
	var exp struct {
		Rows []struct {
			Kind        string  `json:"kind"`
			ProposalID  int64   `json:"proposal_id"`
			Component   string  `json:"component"`
			State       string  `json:"state"`
			FirstSeenAt *string `json:"first_seen_at"`
			AckedBy     string  `json:"acked_by"`
			Note        string  `json:"note"`
		} `json:"rows"`
	}
	if err := json.Unmarshal([]byte(stdout), &exp); err != nil {
		t.Fatalf("export JSON: %v\n%s", err, stdout)
	}
	type tableRow struct {
		ProposalID  int64     `db:"proposal_id"`
		Component   string    `db:"component"`
		Kind        string    `db:"kind"`
		State       string    `db:"state"`
		FirstSeenAt time.Time `db:"first_seen_at"`
		AckedBy     string    `db:"acked_by"`
		Note        string    `db:"note"`
	}
	var open []tableRow
	if err := db.Select(&open, `SELECT e.proposal_id, e.component, e.kind, e.state, e.first_seen_at,
	    coalesce(a.acked_by, '') AS acked_by, coalesce(a.note, '') AS note
	    FROM reconciler_exceptions e LEFT JOIN LATERAL (SELECT acked_by, note FROM reconciler_exception_acks
	        WHERE exception_id = e.id AND acked_at >= e.open_since ORDER BY acked_at DESC, id DESC LIMIT 1) a ON TRUE
	    WHERE e.state = 'open'`); err != nil {
		t.Fatal(err)
	}
	byKey := map[string]tableRow{}
	for _, r := range open {
		byKey[r.Kind+"/"+jsonNum(r.ProposalID)+"/"+r.Component] = r
	}
	var rows, wrong int
	for _, r := range exp.Rows {
		if r.Kind == "missing_refund" || r.Kind == "pending_refund" {
			t.Errorf("an owed refund is a row of the export (%+v): they are the totals' \"owed\"", r)
			continue
		}
		rows++
		if r.Kind == "wrong_account" {
			wrong++
		}
		tr, ok := byKey[r.Kind+"/"+jsonNum(r.ProposalID)+"/"+r.Component]
		if !ok {
			t.Errorf("export row %+v is no open exception", r)
			continue
		}
		if r.State != tr.State || r.FirstSeenAt == nil || *r.FirstSeenAt != tr.FirstSeenAt.UTC().Format("2006-01-02T15:04:05.000000Z07:00") ||
			r.AckedBy != tr.AckedBy || r.Note != tr.Note {
			t.Errorf("export row %+v, table %+v", r, tr)
		}
	}
	if rows != len(open) || wrong != 1 {
		t.Errorf("export has %d exception rows (%d wrong_account), the table %d open exceptions; want equal, and 1 wrong_account", rows, wrong, len(open))
	}
}
