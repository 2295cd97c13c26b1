package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
)

// The report of a period that is over is made from what was recorded by the
// period's end: the same bytes before and after later runs, acknowledgements
// and activity; --now adds the last sweep of all. Its headline counts the
// missing refunds the sweep found, never the pending ones inside the settle
// delay.
func TestReportOfAPastPeriodIsReproducible(t *testing.T) {
	t.Parallel()
	built := buildBinaryAsync(t)
	url, db := smallMarket(t)
	// owed, but closed a minute ago: inside the settle delay
	db.MustExec(`
	INSERT INTO jobs (id, client_id, status, close_reason, closed_at) VALUES (4, 1, 'closed', 'no_hire', now() - interval '1 minute');
	INSERT INTO proposals (id, job_id, freelancer_id, submitted_at) VALUES (40, 4, 100, now() - interval '1 day');
	INSERT INTO connects_ledger (freelancer_id, amount, entry_type, proposal_id, component, idempotency_key) VALUES
	    (100, -5, 'proposal_fee', 40, 'base', 'f40');
	UPDATE connects_balances SET balance = balance - 5 WHERE freelancer_id = 100;`)
	bin := built()
	must := func(args ...string) string {
		t.Helper()
		code, stdout, stderr := runBinary(t, bin, url, args...)
		if code != exitOK {
			t.Fatalf("%v: exit %d\n%s", args, code, stderr)
		}
		return stdout
	}
	must("run", "--format", "json") // the first run is a full sweep
	first := lastRun(t, db)
	var end time.Time
	if err := db.Get(&end, `SELECT clock_timestamp()`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	from, to := "2026-01-01", end.UTC().Format(time.RFC3339Nano)
	report := func(extra ...string) string {
		t.Helper()
		out := filepath.Join(t.TempDir(), "report.html")
		must(append([]string{"report", "--from", from, "--to", to, "--out", out}, extra...)...)
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	before := report()
	for _, want := range []string{"<code>" + first + "</code>",
		`<div class="k">Missing refunds the last full sweep found</div><div class="v">3</div><div class="k">3 written by it</div>`,
		`<div class="k">Pending (inside the settle delay, not missing)</div><div class="v">1</div>`,
		`<div class="k">Discrepancies the last full sweep found</div><div class="v">1</div>`,
		"the last full sweep by"} {
		if !strings.Contains(before, want) {
			t.Errorf("the report lacks %q", want)
		}
	}

	// Later: the pending refund settles and another goes missing, an
	// incremental run and a full sweep write them, a new discrepancy is
	// found, the old one acknowledged.
	db.MustExec(`
	UPDATE jobs SET closed_at = now() - interval '1 hour' WHERE id = 4;
	INSERT INTO jobs (id, client_id, status, close_reason, closed_at) VALUES (5, 1, 'closed', 'no_hire', now() - interval '1 hour');
	INSERT INTO proposals (id, job_id, freelancer_id, submitted_at) VALUES (50, 5, 101, now() - interval '1 day'),
	    (60, 3, 101, now() - interval '1 day');
	INSERT INTO connects_ledger (freelancer_id, amount, entry_type, proposal_id, component, idempotency_key) VALUES
	    (101, -3, 'proposal_fee', 50, 'base', 'f50'), (101, -2, 'proposal_fee', 60, 'base', 'f60'), (101, 2, 'refund', 60, 'base', 'online:60');
	UPDATE connects_balances SET balance = balance - 3 WHERE freelancer_id = 101;`)
	must("run", "--format", "json")
	must("run", "--full", "--format", "json")
	last := lastRun(t, db)
	must("discrepancies", "ack", "--proposal", "30", "--component", "base", "--note", "checked", "--by", "ana")

	if after := report(); after != before {
		t.Errorf("the report of a period that is over changed after later runs:\n%s", firstDifference(before, after))
	}
	now := report("--now")
	for _, want := range []string{"<code>" + last + "</code>", "Exceptions open as of the sweep (2)", "ana: checked"} {
		if !strings.Contains(now, want) {
			t.Errorf("the report with --now lacks %q", want)
		}
	}
}

func firstDifference(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	lo := max(0, i-200)
	return "before: …" + a[lo:min(len(a), i+200)] + "\nafter:  …" + b[lo:min(len(b), i+200)]
}

// tableReads are the tuples read from each table of the database (by
// sequential and index scans) since its statistics were reset.
func tableReads(t *testing.T, db *sqlx.DB) map[string]int64 {
	t.Helper()
	read := func() map[string]int64 {
		var rows []struct {
			Table string `db:"relname"`
			Read  int64  `db:"reads"`
		}
		if err := db.Select(&rows, `SELECT relname, coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) + coalesce(seq_scan, 0) + coalesce(idx_scan, 0) AS reads
		    FROM pg_stat_user_tables`); err != nil {
			t.Fatal(err)
		}
		out := map[string]int64{}
		for _, r := range rows {
			out[r.Table] = r.Read
		}
		return out
	}
	// A backend reports its counts when it goes idle or exits: wait until
	// two readings agree.
	prev := read()
	for i := 0; i < 20; i++ {
		time.Sleep(300 * time.Millisecond)
		cur := read()
		same := len(cur) == len(prev)
		for k, v := range cur {
			same = same && prev[k] == v
		}
		if same {
			return cur
		}
		prev = cur
	}
	return prev
}

// readsOf runs the command and returns what it read, table by table.
func readsOf(t *testing.T, db *sqlx.DB, bin, url string, args ...string) map[string]int64 {
	t.Helper()
	tableReads(t, db) // let earlier counts settle before the reset
	db.MustExec(`SELECT pg_stat_reset()`)
	if code, _, stderr := runBinary(t, bin, url, args...); code != exitOK {
		t.Fatalf("%v: exit %d\n%s", args, code, stderr)
	}
	return tableReads(t, db)
}

var marketplaceTables = []string{"jobs", "proposals", "boost_auctions", "boost_bids", "proposal_interactions", "connects_balances"}

// The discrepancies export and the report read the last full sweep's
// record, not the marketplace: the export reads no marketplace or ledger
// table at all, and what the report reads (the period's refund entries) does
// not grow when the marketplace grows tenfold outside its period.
func TestFinanceCostDoesNotGrowWithTheMarketplace(t *testing.T) {
	t.Parallel()
	built := buildBinaryAsync(t)
	url, db, _, _, end := seededMarket(t)
	db.SetMaxOpenConns(1) // one backend of ours: its own reads are the catalog's
	bin := built()
	from := "2026-09-01"
	db.MustExec(`ANALYZE`)
	measure := func() (export, report map[string]int64) {
		export = readsOf(t, db, bin, url, "export", "--kind", "discrepancies", "--out", filepath.Join(t.TempDir(), "d.csv"))
		report = readsOf(t, db, bin, url, "report", "--from", from, "--to", end, "--out", filepath.Join(t.TempDir(), "r.html"))
		return export, report
	}
	export1, report1 := measure()
	for _, table := range append(marketplaceTables, "connects_ledger") {
		if export1[table] != 0 {
			t.Errorf("the discrepancies export read %s (%d tuples and scans): it must read only the sweep's record", table, export1[table])
		}
	}

	// Ten times the marketplace, all of it after the period: jobs, their
	// proposals, fees, interactions.
	var proposals int64
	if err := db.Get(&proposals, `SELECT count(*) FROM proposals`); err != nil {
		t.Fatal(err)
	}
	db.MustExec(strings.ReplaceAll(`
	INSERT INTO jobs (id, client_id, status) SELECT 1000000 + g, g, 'open' FROM generate_series(1, $1::bigint / 10) g;
	INSERT INTO proposals (id, job_id, freelancer_id, submitted_at)
	    SELECT 10000000 + g, 1000000 + 1 + g % ($1::bigint / 10), g % 997, now() FROM generate_series(1, $1::bigint) g;
	INSERT INTO connects_ledger (freelancer_id, amount, entry_type, proposal_id, component, idempotency_key)
	    SELECT g % 997, -2, 'proposal_fee', 10000000 + g, 'base', 'grow:' || g FROM generate_series(1, $1::bigint) g;
	INSERT INTO proposal_interactions (proposal_id, kind, occurred_at)
	    SELECT 10000000 + g, 'opened', now() FROM generate_series(1, $1::bigint) g;
	INSERT INTO boost_auctions (job_id) SELECT 1000000 + g FROM generate_series(1, $1::bigint / 10) g;
	INSERT INTO boost_bids (proposal_id) SELECT 10000000 + g FROM generate_series(1, $1::bigint) g;
	ANALYZE;`, "$1", strconv.FormatInt(10*proposals, 10)))

	export2, report2 := measure()
	for _, table := range append(marketplaceTables, "connects_ledger") {
		if export2[table] != 0 {
			t.Errorf("after the growth, the discrepancies export read %s (%d)", table, export2[table])
		}
		if grew := report2[table] - report1[table]; grew > report1[table]/10+50 {
			t.Errorf("the report read %d tuples of %s, %d before the marketplace grew tenfold outside its period: its cost grows with the marketplace",
				report2[table], table, report1[table])
		}
	}
	for _, table := range append(marketplaceTables, "connects_ledger") {
		t.Logf("%s: the report read %d before, %d after", table, report1[table], report2[table])
	}
}
