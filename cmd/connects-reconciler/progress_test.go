package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/connects/connects-reconciler/reconcile/postgres/pgtest"
)

// progressRecord is a "progress" log record, or the "… done" one that ends
// a task.
type progressRecord struct {
	Msg     string   `json:"msg"`
	TS      string   `json:"ts"`
	Task    string   `json:"task"`
	Unit    string   `json:"unit"`
	Done    int64    `json:"done"`
	Total   int64    `json:"total"`
	Percent *float64 `json:"percent"`
	Rate    *float64 `json:"rate_per_second"`
	Elapsed *float64 `json:"elapsed_seconds"`
	ETA     *float64 `json:"eta_seconds"`
	Written *int64   `json:"written"`
	Line    string   `json:"line"`
	at      time.Time
}

// progressRecords returns the progress records of stderr's JSON lines, by
// task, and each task's closing record.
func progressRecords(t *testing.T, stderr string) (ticks map[string][]progressRecord, done map[string]progressRecord) {
	t.Helper()
	ticks, done = map[string][]progressRecord{}, map[string]progressRecord{}
	for _, l := range strings.Split(stderr, "\n") {
		if !strings.HasPrefix(l, "{") {
			continue
		}
		var r progressRecord
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("a log line is not JSON: %v\n%s", err, l)
		}
		if r.Task == "" {
			continue
		}
		at, err := time.Parse("2006-01-02T15:04:05.000Z0700", r.TS)
		if err != nil {
			t.Fatalf("ts %q: %v", r.TS, err)
		}
		r.at = at
		if r.Msg == "progress" {
			ticks[r.Task] = append(ticks[r.Task], r)
		} else if strings.HasPrefix(r.Msg, r.Task+" done: ") {
			done[r.Task] = r
		}
	}
	return ticks, done
}

// checkPace checks a task's records: counts that only grow up to the total,
// the rate and the estimate of the time left, no two closer than the
// interval (less the clock's jitter), and the closing record with the
// whole count.
func checkPace(t *testing.T, task, unit string, ticks []progressRecord, done progressRecord, every time.Duration, total int64) {
	t.Helper()
	if len(ticks) == 0 {
		t.Fatalf("%s: no progress records", task)
	}
	var last int64
	for i, r := range ticks {
		if r.Unit != unit || r.Rate == nil || r.Elapsed == nil || r.Line == "" {
			t.Errorf("%s record %d: %+v; want unit %s, a rate, the time elapsed and a line", task, i, r, unit)
		}
		if r.Done < last || (total > 0 && (r.Total != total || r.Done > total)) {
			t.Errorf("%s record %d: %d of %d after %d; want a growing count of %d", task, i, r.Done, r.Total, last, total)
		}
		if r.Done > 0 && (r.ETA == nil || r.Percent == nil) {
			t.Errorf("%s record %d: %d done but no estimate of the time left or share: %+v", task, i, r.Done, r)
		}
		last = r.Done
		if i > 0 {
			if gap := r.at.Sub(ticks[i-1].at); gap < every*7/10 {
				t.Errorf("%s records %d and %d are %s apart; the interval is %s", task, i-1, i, gap, every)
			}
		}
	}
	if done.Msg == "" {
		t.Fatalf("%s: no closing record after %d progress records", task, len(ticks))
	}
	if total > 0 && done.Done != total {
		t.Errorf("%s closing record: %d done, want %d: %s", task, done.Done, total, done.Msg)
	}
}

// Long work logs its progress at a steady pace through the real binary: a
// full run's planning (proposals of how many) and applying (refunds of how
// many, written), with the rate and the time left, as periodic JSON
// records; an export's refunds as they stream. At the default interval a
// run of a second or two logs none.
func TestProgressRecords(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	url := pgtest.NewURL(t)
	if code, _, stderr := runBinary(t, bin, url, "seed", "--proposals", "8000", "--seed", "3",
		"--anchor", "2026-10-01T12:00:00Z", "--missing-percent", "60"); code != exitOK {
		t.Fatalf("seed: exit %d\n%s", code, stderr)
	}
	// the default: a short dry run reports no progress at all
	code, _, stderr := runBinary(t, bin, url, "run", "--dry-run", "--full", "--format", "json")
	if code != exitOK {
		t.Fatalf("dry run: exit %d\n%s", code, stderr)
	}
	if ticks, _ := progressRecords(t, stderr); len(ticks) > 0 {
		t.Errorf("a dry run of about a second logged progress records at the default interval of 5s: %v", ticks)
	}

	every := 40 * time.Millisecond
	code, stdout, stderr := runBinary(t, bin, url, "run", "--full", "--format", "json", "--batch-size", "400",
		"--apply-batch-size", "20", "--progress-interval", every.String())
	if code != exitOK {
		t.Fatalf("run: exit %d\n%s", code, stderr)
	}
	var out struct {
		Planned struct {
			Refunds int64 `json:"refunds"`
		} `json:"planned"`
		Totals struct {
			Refunds int64 `json:"refunds"`
		} `json:"totals"`
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil || out.Planned.Refunds == 0 {
		t.Fatalf("run output: %v; planned %d refunds, want some\n%s", err, out.Planned.Refunds, stdout)
	}
	ticks, done := progressRecords(t, stderr)
	checkPace(t, "planning", "proposals", ticks["planning"], done["planning"], every, 0)
	if p := done["planning"]; p.Done < 7600 || p.Done > 8400 {
		t.Errorf("planning: %d proposals planned, want about the 8,000 seeded", p.Done)
	}
	checkPace(t, "applying", "refunds", ticks["applying"], done["applying"], every, out.Planned.Refunds)
	if w := done["applying"].Written; w == nil || *w != out.Totals.Refunds {
		t.Errorf("applying: closing record says %v written; the run wrote %d", w, out.Totals.Refunds)
	}
	for _, r := range ticks["applying"] {
		if r.Written == nil || *r.Written > r.Done {
			t.Errorf("applying record %+v: want written, at most the refunds done", r)
		}
		if !regexp.MustCompile(`^applying [\d,]+ of [\d,]+ refunds \(\d+%\), [\d,]+ written, [\d,]+/s(, \S+ left)?$`).MatchString(r.Line) {
			t.Errorf("applying line %q", r.Line)
		}
	}

	// an export streams its refunds with progress (every millisecond: the
	// export of this marketplace's few thousand refunds reading matches takes
	// a few ms, and at 5ms it sometimes ended before the first record)
	code, _, stderr = runBinary(t, bin, url, "export", "--from", "2026-01-01", "--to", "2030-01-01",
		"--out", filepath.Join(t.TempDir(), "r.csv"), "--progress-interval", "1ms")
	if code != exitOK {
		t.Fatalf("export: exit %d\n%s", code, stderr)
	}
	ticks, done = progressRecords(t, stderr)
	checkPace(t, "exporting", "refunds", ticks["exporting"], done["exporting"], time.Millisecond, 0)
	if done["exporting"].Done < out.Totals.Refunds {
		t.Errorf("exporting: %d refunds read, want at least the %d the run wrote", done["exporting"].Done, out.Totals.Refunds)
	}
}

// On a terminal, progress is one live line redrawn in place (carriage
// return, erase line), erased at the end, never a record; log lines are
// written under it. Run under script(1), which gives the binary a
// terminal.
func TestProgressLiveLine(t *testing.T) {
	t.Parallel()
	script, err := exec.LookPath("script")
	if err != nil {
		t.Fatalf("script(1) (util-linux, in every Debian) gives the binary a terminal: %v", err)
	}
	bin := buildBinary(t)
	url := pgtest.NewURL(t)
	if code, _, stderr := runBinary(t, bin, url, "seed", "--proposals", "8000", "--seed", "3",
		"--anchor", "2026-10-01T12:00:00Z"); code != exitOK {
		t.Fatalf("seed: exit %d\n%s", code, stderr)
	}
	cmd := exec.Command(script, "-qefc", bin+" run --dry-run --full --format json --batch-size 200 --progress-interval 100ms", "/dev/null")
	cmd.Env = []string{"DATABASE_URL=" + url, "PATH=" + os.Getenv("PATH"), "NO_COLOR=1", "COLUMNS=200"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Stdin = strings.NewReader("")
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	got := out.String()
	live := regexp.MustCompile(`\r\x1b\[Kplanning [\d,]+ of [\d,]+ proposals \(\d+%\), [\d,]+/s`)
	if !live.MatchString(got) {
		t.Errorf("no live planning line on the terminal:\n%q", got)
	}
	// erased before the record that closes the task, which starts the line
	if !regexp.MustCompile(`\r\x1b\[K\d{4}-\d\d-\d\dT[^\r\n]*planning done: `).MatchString(got) {
		t.Errorf("the live line is not erased before the closing record:\n%q", got)
	}
	if strings.Contains(got, `"msg":"progress"`) || strings.Contains(got, "\tprogress\t") {
		t.Errorf("progress records on a terminal, want only the live line:\n%q", got)
	}
	if !strings.Contains(got, "planning done: ") {
		t.Errorf("no closing planning line:\n%q", got)
	}
}
