package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/connects/connects-reconciler/reconcile"
	"github.com/connects/connects-reconciler/reconcile/postgres/pgtest"
)

// seededMarket seeds a marketplace with a fixed anchor, runs the job once,
// and returns the URL, the run's id and a period covering everything, ended
// after the run (so exports of it are complete and repeatable).
func seededMarket(t *testing.T) (url string, db *sqlx.DB, runID string, from, to string) {
	t.Helper()
	url = pgtest.NewURL(t)
	db = sqlx.MustOpen("postgres", url)
	t.Cleanup(func() { db.Close() })
	env := map[string]string{"DATABASE_URL": url}
	if code, _, stderr := invoke(t, env, "seed", "--proposals", "3000", "--seed", "7",
		"--anchor", "2026-10-01T12:00:00Z", "--missing-percent", "20"); code != exitOK {
		t.Fatalf("seed: exit %d:\n%s", code, stderr)
	}
	code, stdout, stderr := invoke(t, env, "run", "--format", "json", "--apply-batch-size", "50")
	if code != exitOK {
		t.Fatalf("run: exit %d:\n%s", code, stderr)
	}
	var res struct {
		RunID   string `json:"run_id"`
		Refunds []any  `json:"refunds"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil || res.RunID == "" || len(res.Refunds) == 0 {
		t.Fatalf("run: %v; got %d refunds from run %q, want some", err, len(res.Refunds), res.RunID)
	}
	var end time.Time
	if err := db.Get(&end, `SELECT clock_timestamp()`); err != nil {
		t.Fatal(err)
	}
	return url, db, res.RunID, "2026-07-01", end.UTC().Format(time.RFC3339Nano)
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(b, []byte("\r\n")) {
		t.Errorf("%s: lines do not end in CRLF (RFC 4180)", path)
	}
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatalf("%s: not CSV: %v", path, err)
	}
	return recs
}

func cents(t *testing.T, s string) reconcile.Cents {
	t.Helper()
	var c reconcile.Cents
	if err := c.UnmarshalText([]byte(s)); err != nil {
		t.Fatalf("value %q: %v", s, err)
	}
	return c
}

// The tie-out: the export's totals equal the ledger's refund sums for the
// period; every refund the run wrote is in it as the job's, with the run's
// id; the summary's control totals equal the rows; and exporting the same
// period again gives byte-identical files.
func TestExportTiesOut(t *testing.T) {
	t.Parallel()
	url, db, runID, from, to := seededMarket(t)
	env := map[string]string{"DATABASE_URL": url}
	dir := t.TempDir()
	out := filepath.Join(dir, "refunds.csv")
	if code, _, stderr := invoke(t, env, "export", "--from", from, "--to", to, "--out", out); code != exitOK {
		t.Fatalf("export: exit %d:\n%s", code, stderr)
	}
	recs := readCSV(t, out)
	if got := strings.Join(recs[0], ","); got != "entry_id,created_at,freelancer_id,proposal_id,job_id,component,connects,value_usd,issued_by,rule,run_id,idempotency_key,verdict,adjusts_period" {
		t.Fatalf("header: got %s", got)
	}
	rows := recs[1:]

	var ledger struct {
		N        int64 `db:"n"`
		Connects int64 `db:"connects"`
	}
	if err := db.Get(&ledger, `SELECT count(*) AS n, sum(amount) AS connects FROM connects_ledger
	    WHERE entry_type = 'refund' AND created_at >= $1 AND created_at < $2`, from, to); err != nil {
		t.Fatal(err)
	}
	var connects int64
	var value reconcile.Cents
	byEntry := map[string][]string{}
	prev := ""
	for _, r := range rows {
		n, err := strconv.ParseInt(r[6], 10, 64)
		if err != nil {
			t.Fatalf("connects %q: %v", r[6], err)
		}
		connects += n
		v := cents(t, r[7])
		if v != reconcile.Price(1500).Value(n) {
			t.Errorf("entry %s: value %s for %d Connects, want %s", r[0], r[7], n, reconcile.Price(1500).Value(n))
		}
		value += v
		byEntry[r[0]] = r
		if _, err := time.Parse(time.RFC3339, r[1]); err != nil || !strings.HasSuffix(r[1], "Z") {
			t.Errorf("created_at %q is not UTC RFC 3339", r[1])
		}
		if r[1] < prev {
			t.Errorf("entry %s out of created_at order", r[0])
		}
		prev = r[1]
	}
	if int64(len(rows)) != ledger.N || connects != ledger.Connects {
		t.Errorf("export: %d refunds, %d Connects; the ledger in the period: %d, %d", len(rows), connects, ledger.N, ledger.Connects)
	}
	if value != reconcile.Price(1500).Value(ledger.Connects) {
		t.Errorf("export value %s, want %d Connects × 0.15", value, ledger.Connects)
	}

	var written []struct {
		Entry int64  `db:"ledger_entry_id"`
		Rule  string `db:"rule"`
		Key   string `db:"idempotency_key"`
	}
	if err := db.Select(&written, `SELECT r.ledger_entry_id, r.rule, l.idempotency_key FROM reconciler_refunds r
	    JOIN connects_ledger l ON l.id = r.ledger_entry_id WHERE r.run_id = $1`, runID); err != nil {
		t.Fatal(err)
	}
	if len(written) == 0 {
		t.Fatal("the run wrote no audit rows")
	}
	for _, w := range written {
		r, ok := byEntry[strconv.FormatInt(w.Entry, 10)]
		if !ok {
			t.Errorf("refund %s written by run %s is not in the export", w.Key, runID)
			continue
		}
		if r[8] != "reconciler" || r[10] != runID || r[9] != w.Rule || r[11] != w.Key {
			t.Errorf("refund %s: got issued_by %s, run %s, rule %s, key %s; want reconciler, %s, %s", w.Key, r[8], r[10], r[9], r[11], runID, w.Rule)
		}
	}
	for _, r := range rows {
		if r[8] == "online" && r[10] != "" {
			t.Errorf("online refund %s has run id %s", r[11], r[10])
		}
	}

	// FILE.sha256 checks the file; the manifest carries the same totals.
	b, _ := os.ReadFile(out)
	sum := sha256.Sum256(b)
	shaLine, _ := os.ReadFile(out + ".sha256")
	if want := hex.EncodeToString(sum[:]) + "  refunds.csv\n"; string(shaLine) != want {
		t.Errorf("%s.sha256: got %q, want %q", out, shaLine, want)
	}
	var m struct {
		SHA256      string    `json:"sha256"`
		Rows        int64     `json:"rows"`
		Complete    bool      `json:"complete"`
		GeneratedAt time.Time `json:"generated_at"`
		Price       string    `json:"price_per_connect"`
		Totals      struct {
			Refunds  int64           `json:"refunds"`
			Connects int64           `json:"connects"`
			Value    reconcile.Cents `json:"value_usd"`
		} `json:"totals"`
		Policy *reconcile.Policy `json:"policy"`
	}
	mb, _ := os.ReadFile(out + ".manifest.json")
	if err := json.Unmarshal(mb, &m); err != nil {
		t.Fatalf("manifest: %v\n%s", err, mb)
	}
	if m.SHA256 != hex.EncodeToString(sum[:]) || m.Rows != ledger.N || m.Totals.Refunds != ledger.N ||
		m.Totals.Connects != ledger.Connects || m.Totals.Value != value || !m.Complete || m.Price != "0.15" || m.Policy != nil {
		t.Errorf("manifest: got %+v; want the file's hash and totals %d/%d/%s", m, ledger.N, ledger.Connects, value)
	}

	// Again, after finance switched the boost of rule 2 off and a run went
	// by under the new settings: byte-identical, manifest included (the
	// rows read the matches, which no run rewrites).
	if code, _, stderr := invoke(t, env, "run", "--full", "--closed-without-hire-boost=false"); code != exitOK {
		t.Fatalf("run under other settings: exit %d:\n%s", code, stderr)
	}
	again := filepath.Join(t.TempDir(), "refunds.csv")
	if code, _, stderr := invoke(t, env, "export", "--from", from, "--to", to, "--out", again,
		"--closed-without-hire-boost=false"); code != exitOK {
		t.Fatalf("second export: exit %d:\n%s", code, stderr)
	}
	for _, suffix := range []string{"", ".sha256", ".manifest.json"} {
		a, _ := os.ReadFile(out + suffix)
		b, _ := os.ReadFile(again + suffix)
		if !bytes.Equal(a, b) {
			t.Errorf("refunds.csv%s differs between two exports of the same period", suffix)
		}
	}

	// The summary's lines add up to the control totals, which equal the rows.
	sumOut := filepath.Join(dir, "summary.csv")
	if code, _, stderr := invoke(t, env, "export", "--from", from, "--to", to, "--kind", "summary", "--out", sumOut); code != exitOK {
		t.Fatalf("summary: exit %d:\n%s", code, stderr)
	}
	srecs := readCSV(t, sumOut)
	last := srecs[len(srecs)-1]
	var sn, sc int64
	var sv reconcile.Cents
	for _, r := range srecs[1 : len(srecs)-1] {
		n, _ := strconv.ParseInt(r[4], 10, 64)
		c, _ := strconv.ParseInt(r[5], 10, 64)
		sn, sc, sv = sn+n, sc+c, sv+cents(t, r[6])
	}
	if last[0] != "total" || last[4] != strconv.FormatInt(ledger.N, 10) || last[5] != strconv.FormatInt(ledger.Connects, 10) || last[6] != value.String() {
		t.Errorf("summary control totals: got %v, want %d refunds, %d Connects, %s", last, ledger.N, ledger.Connects, value)
	}
	if sn != ledger.N || sc != ledger.Connects || sv != value {
		t.Errorf("summary lines add up to %d/%d/%s, want %d/%d/%s", sn, sc, sv, ledger.N, ledger.Connects, value)
	}

	// JSON carries the same rows and totals.
	code, stdout, stderr := invoke(t, env, "export", "--from", from, "--to", to, "--format", "json")
	if code != exitOK {
		t.Fatalf("json export: exit %d:\n%s", code, stderr)
	}
	var j struct {
		Rows []struct {
			EntryID  int64           `json:"entry_id"`
			Connects int64           `json:"connects"`
			Value    reconcile.Cents `json:"value_usd"`
			IssuedBy string          `json:"issued_by"`
		} `json:"rows"`
		Totals struct {
			Refunds  int64           `json:"refunds"`
			Connects int64           `json:"connects"`
			Value    reconcile.Cents `json:"value_usd"`
		} `json:"totals"`
	}
	if err := json.Unmarshal([]byte(stdout), &j); err != nil {
		t.Fatalf("json export does not parse: %v", err)
	}
	if int64(len(j.Rows)) != ledger.N || j.Totals.Connects != ledger.Connects || j.Totals.Value != value {
		t.Errorf("json export: %d rows, totals %+v; want %d rows, %d Connects, %s", len(j.Rows), j.Totals, ledger.N, ledger.Connects, value)
	}
}

func TestExportUsage(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": "postgres://nobody@127.0.0.1:1/x?sslmode=disable"}
	for name, args := range map[string][]string{
		"no period":                {"export"},
		"end before start":         {"export", "--from", "2026-11-02", "--to", "2026-11-01"},
		"not a date":               {"export", "--from", "November", "--to", "2026-12-01"},
		"unknown kind":             {"export", "--from", "2026-11-01", "--to", "2026-12-01", "--kind", "everything"},
		"unknown format":           {"export", "--from", "2026-11-01", "--to", "2026-12-01", "--format", "xlsx"},
		"discrepancies and period": {"export", "--kind", "discrepancies", "--from", "2026-11-01", "--to", "2026-12-01"},
		"report without period":    {"report", "--out", "x.html"},
		"explain without an id":    {"explain"},
		"plan-out without dry run": {"run", "--plan-out", "plan.json"},
	} {
		if code, _, stderr := invoke(t, env, args...); code != exitUsage {
			t.Errorf("%s: exit %d, want %d:\n%s", name, code, exitUsage, stderr)
		}
	}
}

// Discrepancies are the last full sweep's record: none on record is a clear
// error; after a full run, the exceptions it left open are the rows, and
// what it found owed is in the totals, pending refunds apart.
func TestExportDiscrepancies(t *testing.T) {
	t.Parallel()
	url, db := smallMarket(t)
	// owed, but closed a minute ago: inside the settle delay
	db.MustExec(`
	INSERT INTO jobs (id, client_id, status, close_reason, closed_at) VALUES (4, 1, 'closed', 'no_hire', now() - interval '1 minute');
	INSERT INTO proposals (id, job_id, freelancer_id, submitted_at) VALUES (40, 4, 100, now() - interval '1 day');
	INSERT INTO connects_ledger (freelancer_id, amount, entry_type, proposal_id, component, idempotency_key) VALUES
	    (100, -5, 'proposal_fee', 40, 'base', 'f40');
	UPDATE connects_balances SET balance = balance - 5 WHERE freelancer_id = 100;`)
	env := map[string]string{"DATABASE_URL": url}
	code, _, stderr := invoke(t, env, "export", "--kind", "discrepancies")
	if code != exitFailed || !strings.Contains(stderr, "no full sweep is on record") {
		t.Fatalf("no sweep on record: exit %d, want %d with a message:\n%s", code, exitFailed, stderr)
	}
	if code, _, stderr := invoke(t, env, "run", "--full", "--format", "json"); code != exitOK {
		t.Fatalf("run: exit %d\n%s", code, stderr)
	}
	code, stdout, stderr := invoke(t, env, "export", "--kind", "discrepancies")
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	recs, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs[1:] {
		got = append(got, strings.Join([]string{r[0], r[1], r[2], r[8], r[9], r[12]}, " "))
	}
	if want := []string{"unexpected_refund 30 base -4 -0.60 open"}; strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("discrepancies:\n got %q\nwant %q", got, want)
	}
	code, stdout, stderr = invoke(t, env, "export", "--kind", "discrepancies", "--format", "json")
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	var j struct {
		Totals struct {
			AsOf      time.Time `json:"as_of"`
			SweepRuns []string  `json:"sweep_runs"`
			Owed      map[string]struct {
				Count    int64 `json:"count"`
				Connects int64 `json:"connects"`
			} `json:"owed"`
			Written struct {
				Refunds  int64 `json:"refunds"`
				Connects int64 `json:"connects"`
			} `json:"written_by_sweep"`
		} `json:"totals"`
	}
	if err := json.Unmarshal([]byte(stdout), &j); err != nil {
		t.Fatal(err)
	}
	var run struct {
		ID   string    `db:"id"`
		AsOf time.Time `db:"as_of"`
	}
	if err := db.Get(&run, `SELECT id, as_of FROM reconciler_runs`); err != nil {
		t.Fatal(err)
	}
	tot := j.Totals
	if !tot.AsOf.Equal(run.AsOf) || len(tot.SweepRuns) != 1 || tot.SweepRuns[0] != run.ID ||
		tot.Owed["missing_refund"].Count != 3 || tot.Owed["missing_refund"].Connects != 12 ||
		tot.Owed["pending_refund"].Count != 1 || tot.Owed["pending_refund"].Connects != 5 ||
		tot.Written.Refunds != 3 || tot.Written.Connects != 12 {
		t.Errorf("totals: %+v; want as of run %s at %s, 3 missing (12 Connects) all written, 1 pending (5)", tot, run.ID, run.AsOf)
	}
}
