package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"go.uber.org/zap"

	"github.com/connects/connects-reconciler/synth"
)

// A closed period stays closed, as finance meets it through the binary:
// close-period records the export's sha256 and rows; exporting the period
// again gives the very same files after a settings change, a day of
// activity, a run killed with SIGKILL in the middle and runs under the new
// settings; a refund entry created later under the closed period leaves the
// closed export as it was (a warning names it) and appears as an adjustment
// in the next open period's export; a deleted or changed entry under it makes
// the export fail (exit 1), naming the entry.
func TestClosedPeriodStaysClosed(t *testing.T) {
	t.Parallel()
	built := buildBinaryAsync(t)
	url, db, _, _, _ := seededMarket(t) // anchored at 2026-10-01T12:00Z, one run written
	env := map[string]string{"DATABASE_URL": url}
	const from, to = "2026-07-01", "2026-10-02"
	dir := t.TempDir()
	export := func(name string, args ...string) (string, int, string) {
		t.Helper()
		out := filepath.Join(dir, name)
		code, _, stderr := invoke(t, env, append([]string{"export", "--from", from, "--to", to, "--out", out}, args...)...)
		return out, code, stderr
	}
	files := func(path string) [3][]byte {
		var b [3][]byte
		for i, suffix := range []string{"", ".sha256", ".manifest.json"} {
			b[i], _ = os.ReadFile(path + suffix)
		}
		return b
	}

	code, stdout, stderr := invoke(t, env, "close-period", "--from", from, "--to", to, "--by", "ana")
	if code != exitOK {
		t.Fatalf("close-period: exit %d\n%s", code, stderr)
	}
	var closed struct {
		Rows   int64  `json:"rows"`
		SHA256 string `json:"sha256"`
	}
	if err := json.Unmarshal([]byte(stdout), &closed); err != nil || closed.Rows == 0 || len(closed.SHA256) != 64 {
		t.Fatalf("close-period printed %q (%v): want the record with rows and sha256", stdout, err)
	}
	first, code, stderr := export("first.csv")
	if code != exitOK {
		t.Fatalf("export: exit %d\n%s", code, stderr)
	}
	want := files(first)
	if !bytes.HasPrefix(want[1], []byte(closed.SHA256+"  ")) {
		t.Fatalf("the closed period's export has sha256 %s, close-period recorded %s", want[1], closed.SHA256)
	}
	if code, _, stderr := invoke(t, env, "close-period", "--from", "2026-09-01", "--to", "2026-11-01", "--by", "ana"); code != exitUsage ||
		!strings.Contains(stderr, "overlaps the closed period") {
		t.Errorf("closing an overlapping period: exit %d, want %d naming the overlap\n%s", code, exitUsage, stderr)
	}

	// A day of activity, a run killed mid-way, then runs under other settings.
	if _, err := synth.Activity(context.Background(), db, synth.ActivityOptions{Seed: 3, Percent: 20, MissingPercent: 100}, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	bin := built()
	p := startProc(t, bin, []string{"DATABASE_URL=" + url}, "run", "--full", "--apply-batch-size", "2", "--settle-delay", "0s",
		"--closed-without-hire-boost=false", "--log-format", "json")
	known := map[string]bool{}
	var ids []string
	_ = db.Select(&ids, `SELECT id FROM reconciler_runs`)
	for _, id := range ids {
		known[id] = true
	}
	id := newRecord(t, db, known, p)
	if id != "" {
		afterBatches(db, id, 4, p)
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	p.wait(t, time.Minute)
	var status string
	if err := db.Get(&status, `SELECT status FROM reconciler_runs WHERE id = $1`, id); err != nil || status != "running" {
		t.Errorf("the run to kill (%q): status %q (%v), want killed while running", id, status, err)
	}
	for _, args := range [][]string{{"run", "--full", "--closed-without-hire-boost=false", "--settle-delay", "0s"}, {"run", "--refund-declined=true"}} {
		if code, _, stderr := invoke(t, env, args...); code != exitOK {
			t.Fatalf("%v: exit %d\n%s", args, code, stderr)
		}
	}
	again, code, stderr := export("again.csv", "--closed-without-hire-boost=false")
	if code != exitOK {
		t.Fatalf("export after the changes: exit %d\n%s", code, stderr)
	}
	if got := files(again); !bytes.Equal(got[0], want[0]) || !bytes.Equal(got[2], bytes.ReplaceAll(want[2], []byte("first.csv"), []byte("again.csv"))) {
		t.Errorf("the closed period's export changed after a settings change, a killed run and later runs")
	}

	// A refund entry created now with a timestamp inside the closed period.
	var late int64
	if err := db.Get(&late, `INSERT INTO connects_ledger (freelancer_id, amount, entry_type, proposal_id, component, idempotency_key, created_at)
	    SELECT f.freelancer_id, 1, 'refund', f.proposal_id, 'base', 'late:' || f.proposal_id, '2026-09-15T10:00:00Z'
	    FROM connects_ledger f
	    WHERE f.entry_type = 'proposal_fee'
	      AND NOT EXISTS (SELECT 1 FROM connects_ledger r WHERE r.entry_type = 'refund' AND r.proposal_id = f.proposal_id AND r.component = 'base')
	    ORDER BY f.id LIMIT 1
	    RETURNING id`); err != nil {
		t.Fatal(err)
	}
	lateOut, code, stderr := export("late.csv")
	if code != exitOK || !bytes.Equal(files(lateOut)[0], want[0]) || !strings.Contains(stderr, "late_entries") {
		t.Errorf("export with a late entry under the closed period: exit %d, same file %v; want the closed file and a warning naming it\n%s",
			code, bytes.Equal(files(lateOut)[0], want[0]), stderr)
	}
	if code, _, stderr := invoke(t, env, "run", "--full"); code != exitOK { // the daily full sweep matches it
		t.Fatalf("run: exit %d\n%s", code, stderr)
	}
	next := filepath.Join(dir, "next.csv")
	if code, _, stderr := invoke(t, env, "export", "--from", to, "--to", time.Now().UTC().Add(time.Hour).Format(time.RFC3339), "--out", next); code != exitOK {
		t.Fatalf("export of the next period: exit %d\n%s", code, stderr)
	}
	var adjusted []string
	for _, r := range readCSV(t, next)[1:] {
		if r[len(r)-1] != "" {
			adjusted = append(adjusted, r[0]+" "+r[len(r)-1])
		}
	}
	if wantAdj := []string{itoa(late) + " 2026-07-01T00:00:00Z/2026-10-02T00:00:00Z"}; strings.Join(adjusted, ",") != strings.Join(wantAdj, ",") {
		t.Errorf("adjustments in the next period's export: %v, want %v", adjusted, wantAdj)
	}

	// A deleted and a changed entry under the closed period: exit 1, named.
	var gone, changed int64
	mustGet(t, db, &gone, `DELETE FROM connects_ledger WHERE id = (SELECT min(ledger_entry_id) FROM reconciler_closed_period_entries) RETURNING id`)
	mustGet(t, db, &changed, `UPDATE connects_ledger SET amount = amount + 1 WHERE id = (SELECT max(ledger_entry_id) FROM reconciler_closed_period_entries) RETURNING id`)
	broken, code, stderr := export("broken.csv")
	if code != exitFailed || !strings.Contains(stderr, "entry "+itoa(gone)+" deleted") || !strings.Contains(stderr, "entry "+itoa(changed)+" changed") {
		t.Errorf("export after a deleted and a changed entry: exit %d, want %d naming entries %d and %d\n%s", code, exitFailed, gone, changed, stderr)
	}
	if _, err := os.Stat(broken); !os.IsNotExist(err) {
		t.Errorf("a failed export of a closed period left %s behind", broken)
	}
}

func mustGet(t *testing.T, db *sqlx.DB, dest any, q string) {
	t.Helper()
	if err := db.Get(dest, q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}
