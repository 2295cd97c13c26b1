package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/connects/connects-reconciler/reconcile/postgres/pgtest"
	"github.com/connects/connects-reconciler/synth"
)

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cfg, err := configFromEnv(env(nil))
	if err != nil || len(cfg.Sizes) != 2 || cfg.Sizes[0] != 1_000_000 || cfg.Sizes[1] != 5_000_000 || cfg.AdminURL != defaultAdminURL {
		t.Fatalf("defaults: got %+v, %v; want sizes [1M 5M] on %s", cfg, err, defaultAdminURL)
	}
	cfg, err = configFromEnv(env(map[string]string{"BENCH_SIZES": "100_000 300000", "TEST_DATABASE_URL": "postgres://t/x",
		"BENCH_DATABASE_URL": "postgres://b/x", "BENCH_SEED": "9", "BENCH_RUN_FLAGS": "--batch-size 100000"}))
	if err != nil || len(cfg.Sizes) != 2 || cfg.Sizes[0] != 100_000 || cfg.AdminURL != "postgres://b/x" || cfg.Seed != 9 ||
		strings.Join(cfg.RunFlags, " ") != "--batch-size 100000" {
		t.Fatalf("from env: got %+v, %v", cfg, err)
	}
	for _, bad := range []map[string]string{{"BENCH_SIZES": "1M"}, {"BENCH_SIZES": "10"}, {"BENCH_SEED": "x"}} {
		if _, err := configFromEnv(env(bad)); err == nil {
			t.Errorf("%v: got no error, want one", bad)
		}
	}
}

func TestTableVerdicts(t *testing.T) {
	t.Parallel()
	r := &row{Size: 5_000_000, Plain: 100 * time.Second, Full: proc{Wall: 120 * time.Second, RSS: 30 << 10},
		FullWrote: 1000, NoopFull: proc{Wall: 110 * time.Second},
		Shapes:       [2]shape{{Name: "online 95%", Incremental: proc{Wall: 5 * time.Second}}, {Name: "online down", Incremental: proc{Wall: 7 * time.Second}}},
		NoopIncr:     proc{Wall: 200 * time.Millisecond},
		BacklogPlain: 50 * time.Second, Backlog: proc{Wall: 150 * time.Second, RSS: 100 << 10},
		Export: &proc{Wall: 3 * time.Second}, Copy: time.Second, Report: &proc{Wall: 1500 * time.Millisecond},
		Same: true, FragmentSame: true, ShardsSame: true, BacklogSame: true,
		Replica: replicaCase{Same: true,
			Without: runCost{proc: proc{Wall: 440 * time.Millisecond}, Counted: true, Statements: 32,
				Primary: dbStats{Xacts: 27, ActiveMS: 600, Rows: 567350, Blocks: 294928}, PlannedOn: "primary"},
			With: runCost{proc: proc{Wall: 480 * time.Millisecond}, Counted: true, Statements: 26, ReplicaStatements: 9,
				Primary: dbStats{Xacts: 15, ActiveMS: 80, Rows: 16953, Blocks: 55941}, PlannedOn: "replica"}}}
	var b bytes.Buffer
	writeTable(&b, machine{CPUs: 2}, []*row{r})
	out := b.String()
	for _, want := range []string{"| 5M |", "1.20 MISS", "| 100 |", "5.00 (4.2%) PASS", "7.00 (5.8%)", "0.20 PASS",
		"3.00 MISS", "100.0 MISS", "3.00 | 1.00 | 3.00 MISS", "| 1.50 PASS |",
		"| 0.44 → 0.48 | 32 → 26 | 27 → 15 | 0.60 → 0.08 | 567350 → 16953 | 294928 → 55941 |",
		"planned on primary and on replica", "statements on the replica 9"} {
		if !strings.Contains(out, want) {
			t.Errorf("table: want %q in\n%s", want, out)
		}
	}
	// Not measured (the server refuses replication): the run without, then n/a.
	r.Replica.With, r.Replica.NotMeasured = runCost{}, "the server refuses replication connections"
	r.Replica.Without.Counted = false
	b.Reset()
	writeTable(&b, machine{CPUs: 2}, []*row{r})
	for _, want := range []string{"| 0.44 → n/a | n/a → n/a | 27 → n/a |", "replica case: not measured: the server refuses"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table: want %q in\n%s", want, b.String())
		}
	}
}

// The tick table divides by the proposals the day's events touched (issue
// 20's definition) for its target, and shows the proposals the run planned
// beside it: 1M proposals, a full run of 4 s (4 µs a proposal), an
// incremental run of 0.3 s after a day that touched 30,000 proposals
// (10 µs each, 2.5×) of which it planned 5,000 (60 µs each, 15×).
func TestTickTable(t *testing.T) {
	t.Parallel()
	day := shape{Name: "online 95%", Activity: synth.ActivityStats{Touched: 30_000}, Proposals: 5_000,
		Incremental: proc{Wall: 300 * time.Millisecond}}
	r := &row{Size: 1_000_000, Full: proc{Wall: 4 * time.Second}, Shapes: [2]shape{day, {}},
		NoopIncr: proc{Wall: 100 * time.Millisecond}}
	var b bytes.Buffer
	writeTickTable(&b, []*row{r})
	want := "| 1M | online 95% | 30000 | 0.30 | 10.0 | 4.00 | 2.5 PASS | 5000 | 60.0 | 15.0 | 0.10 PASS |"
	if !strings.Contains(b.String(), want) {
		t.Errorf("tick table: want %q in\n%s", want, b.String())
	}
	if n := strings.Count(b.String(), "| 1M |"); n != 1 {
		t.Errorf("tick table: %d rows, want 1 (a shape without a day is not a row):\n%s", n, b.String())
	}
}

// The whole benchmark at a tiny size: every step runs, the checks hold, the
// table comes out, and every database it created is dropped. The server is a
// cluster of its own that accepts replication from 127.0.0.1 (the shared
// test server's pg_hba.conf does not), so that the replica case runs too.
func TestBenchEndToEnd(t *testing.T) {
	t.Parallel()
	cluster := pgtest.NewReplicated(t) // the benchmark makes its own databases
	u, err := url.Parse(cluster.PrimaryURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/postgres"
	// Without JIT compilation, which costs seconds per statement and buys
	// nothing on a marketplace this small.
	q := u.Query()
	q.Set("options", "-c jit=off")
	u.RawQuery = q.Encode()
	cfg := config{Sizes: []int64{1500}, AdminURL: u.String(), Seed: 3, Label: "t", Log: io.Discard}
	var out bytes.Buffer
	if err := run(context.Background(), cfg, &out, io.Discard); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{"| 1500 |", "fragment reference the same refunds: yes", "same refunds as the plain reference: yes",
		"shards' refunds the same: yes", "the job's run the same refunds as the plain reference: yes",
		"replica case: both full runs wrote the plain reference's refunds: yes", "planned on primary and on replica"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output: want %q in\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "→ n/a") {
		t.Errorf("output: the replica case's columns are not all measured:\n%s", out.String())
	}
	var left int
	db := cluster.Primary
	if err := db.Get(&left, `SELECT count(*) FROM pg_database WHERE datname LIKE $1`, fmt.Sprintf("crbench\\_t%d\\_%%", os.Getpid())); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatalf("databases left behind: got %d, want 0", left)
	}
}

// readStats reads what a session spent, once its backend has exited and
// flushed its counters: the deltas around a few statements on a table.
func TestReadStatsDeltas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := pgtest.NewURL(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	admin, err := sqlx.Open("postgres", pgtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	before, err := readStats(ctx, admin, name)
	if err != nil {
		t.Fatal(err)
	}
	err = withDB(ctx, dbURL, func(db *sqlx.DB) error {
		for _, q := range []string{"CREATE TABLE scratch AS SELECT g FROM generate_series(1, 5000) g",
			"SELECT count(*) FROM scratch", "SELECT count(*) FROM scratch WHERE g > 10", "SELECT pg_sleep(0.2)"} {
			if _, err := db.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// No wait here: readStats waits for the backend to exit and flush.
	after, err := readStats(ctx, admin, name)
	if err != nil {
		t.Fatal(err)
	}
	d := after.sub(before)
	if d.Xacts < 4 || d.Rows < 10_000 || d.Blocks <= 0 || d.ActiveMS < 200 || d.Sessions < 1 {
		t.Fatalf("deltas %+v: want ≥ 4 transactions, ≥ 10,000 rows read (two scans of 5,000), blocks, ≥ 200 ms active, a session", d)
	}
	// Nothing ran since: the deltas of a second read are zero.
	again, err := readStats(ctx, admin, name)
	if err != nil {
		t.Fatal(err)
	}
	if z := again.sub(after); z != (dbStats{}) {
		t.Fatalf("a second read moved by %+v, want nothing", z)
	}
}

// The proxy counts one statement per Query or Execute message, and passes
// everything else through.
func TestStmtProxyCounts(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewURL(t)
	if _, _, ok, _ := newStmtProxy(strings.Replace(dbURL, "sslmode=disable", "sslmode=require", 1)); ok {
		t.Fatal("a proxy for sslmode=require: want none (it cannot read encrypted messages)")
	}
	p, via, ok, err := newStmtProxy(dbURL)
	if err != nil || !ok {
		t.Fatalf("newStmtProxy: %v, %v", ok, err)
	}
	defer p.Close()
	db, err := sqlx.Open("postgres", via)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	step := func(what string, want int64, fn func() error) {
		t.Helper()
		n0 := p.Statements()
		if err := fn(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := p.Statements() - n0; got != want {
			t.Errorf("%s: counted %d statements, want %d", what, got, want)
		}
	}
	step("simple query", 1, func() error { _, err := db.Exec("SELECT 1"); return err })
	step("extended query", 1, func() error {
		var s string
		if err := db.Get(&s, "SELECT repeat('x', $1::int)", 200_000); err != nil {
			return err
		}
		if len(s) != 200_000 {
			return fmt.Errorf("got %d bytes back", len(s))
		}
		return nil
	})
	step("a large parameter", 1, func() error { _, err := db.Exec("SELECT length($1)", strings.Repeat("y", 300_000)); return err })
	step("a transaction", 3, func() error {
		tx, err := db.Beginx()
		if err != nil {
			return err
		}
		if _, err := tx.Exec("SELECT $1::int", 1); err != nil {
			return err
		}
		return tx.Commit()
	})
}

// A standby of a real server: started from pg_basebackup, both with the
// configuration in the data directory (initdb) and outside it (Debian: the
// primary's settings and pg_hba.conf are written from the server's own),
// caught up, then stopped and removed.
func TestStandby(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := pgtest.NewReplicated(t) // a cluster whose pg_hba.conf trusts replication from 127.0.0.1
	adminURL := strings.Replace(r.PrimaryURL, "/reconciler?", "/postgres?", 1)
	admin, err := sqlx.Open("postgres", adminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	r.Primary.MustExec("CREATE TABLE standby_probe (n int)")
	for i, layout := range []string{"initdb", "configuration outside the data directory"} {
		s, err := backupStandby(ctx, adminURL)
		if err != nil {
			t.Fatalf("%s: %v", layout, err)
		}
		defer s.stop()
		if i == 1 {
			for _, f := range []string{"postgresql.conf", "pg_hba.conf", "pg_ident.conf"} {
				if err := os.Remove(filepath.Join(s.data, f)); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := s.configure(ctx, admin); err != nil {
			t.Fatalf("%s: configure: %v", layout, err)
		}
		if err := s.start(ctx); err != nil {
			t.Fatalf("%s: %v", layout, err)
		}
		r.Primary.MustExec("INSERT INTO standby_probe VALUES ($1)", i)
		if err := s.catchUp(ctx, admin, "reconciler"); err != nil {
			t.Fatalf("%s: %v", layout, err)
		}
		var recovery bool
		var n int
		err = withDB(ctx, s.url("reconciler"), func(db *sqlx.DB) error {
			if err := db.Get(&recovery, "SELECT pg_is_in_recovery()"); err != nil {
				return err
			}
			return db.Get(&n, "SELECT count(*) FROM standby_probe")
		})
		if err != nil || !recovery || n != i+1 {
			t.Fatalf("%s: the standby: in recovery %v, %d probe rows (want %d), %v", layout, recovery, n, i+1, err)
		}
		dir := s.dir
		s.stop()
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Fatalf("%s: %s is still there after stop (%v)", layout, dir, err)
		}
		if err := withDB(ctx, s.url("reconciler"), func(*sqlx.DB) error { return nil }); err == nil {
			t.Fatalf("%s: the standby still answers after stop", layout)
		}
	}
	var slots int
	if err := admin.Get(&slots, "SELECT count(*) FROM pg_replication_slots"); err != nil || slots != 0 {
		t.Fatalf("replication slots left on the primary: %d, %v", slots, err)
	}
}
