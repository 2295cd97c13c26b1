package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/connects/connects-reconciler/reconcile/postgres/pgtest"
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
		Export: &proc{Wall: 3 * time.Second}, Copy: time.Second,
		Same: true, FragmentSame: true, ShardsSame: true, BacklogSame: true}
	var b bytes.Buffer
	writeTable(&b, machine{CPUs: 2}, []*row{r})
	out := b.String()
	for _, want := range []string{"| 5M |", "1.20 MISS", "| 100 |", "5.00 (4.2%) PASS", "7.00 (5.8%)", "0.20 PASS",
		"3.00 MISS", "100.0 MISS", "3.00 | 1.00 | 3.00 MISS"} {
		if !strings.Contains(out, want) {
			t.Errorf("table: want %q in\n%s", want, out)
		}
	}
}

// The whole benchmark at a tiny size: every step runs, the checks hold, the
// table comes out, and every database it created is dropped.
func TestBenchEndToEnd(t *testing.T) {
	t.Parallel()
	admin := pgtest.NewURL(t) // a server that answers; the benchmark makes its own databases
	u, err := url.Parse(admin)
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
		"shards' refunds the same: yes", "the job's run the same refunds as the plain reference: yes"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output: want %q in\n%s", want, out.String())
		}
	}
	var left int
	db := pgtest.NewDB(t)
	if err := db.Get(&left, `SELECT count(*) FROM pg_database WHERE datname LIKE $1`, fmt.Sprintf("crbench\\_t%d\\_%%", os.Getpid())); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatalf("databases left behind: got %d, want 0", left)
	}
}
