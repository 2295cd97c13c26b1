// Command bench measures connects-reconciler against the database's own
// limit (`make bench`, docs/benchmarks.md). For each size it seeds a
// marketplace and times, each case on its own file copy of it: the plain
// reference (the contract's rules as one INSERT ... SELECT ... WHERE NOT
// EXISTS, the limit) and the job's policy fragment as one statement; a full
// run of the real binary and a no-op one; a day of activity scattered over
// the whole id space with the online path up (95% refunded) and down, each
// followed by an incremental run, and a no-op incremental run, then issue
// 20's day (shares of the open jobs and running auctions) and its
// incremental run, each incremental run's cost per proposal its events
// touched against the full run's per proposal; the export
// against COPY of the same rows, and a month's finance report (issue 18: under
// 2 s at 5M, read from the last full sweep's record); shards in parallel; and a backlog (half of
// all owed refunds missing, limits lifted) against the plain reference on
// it, and on a copy of it the live case (the marketplace's own transactions,
// 200 a second, during the backlog's dry run and its run: their p50, p99 and
// max side by side); and a full run with and without a hot standby of the server to plan
// on, with what the primary spent on each (statements counted by a proxy,
// transactions, active time, rows read and blocks from pg_stat_database).
// Then it prints the tables with the targets' verdicts. The binary runs
// as a subprocess, so the benchmark does not depend on the engine's
// internals. Every database it creates is dropped, also on failure.
//
// Settings come from the environment:
//
//	BENCH_SIZES         proposals per marketplace, space separated (default "1000000 5000000")
//	BENCH_DATABASE_URL  a server where the user may create databases
//	                    (default TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres)
//	BENCH_SEED          the seed of the marketplaces (default 1)
//	BENCH_RUN_FLAGS     extra flags for every run of the binary, e.g. "--batch-size 100000"
//	BENCH_STEPS         the cases to measure, space separated (default all): reference, full,
//	                    day, export (with the month's report), shards, backlog, live, replica; a case brings what it
//	                    needs (day and export the full run, full, shards and replica the
//	                    plain reference, live the backlog)
//
// It exits 1 on a correctness failure: a run fails, writes other refunds than
// the plain reference, the two references disagree, or an incremental run
// writes other refunds than a full plan; a missed performance target is only
// reported, and so is a server that refuses the replica case's replication
// connection (pg_hba.conf). The standby is always stopped and removed.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	cfg, err := configFromEnv(os.Getenv)
	if err == nil {
		err = run(ctx, cfg, os.Stdout, os.Stderr)
	}
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// config is what one benchmark run measures.
type config struct {
	Sizes    []int64  // proposals per marketplace
	AdminURL string   // a server where the user may create databases
	Seed     int64    // the seed of every marketplace
	RunFlags []string // extra flags for every run of the binary
	// Steps are the cases measured; nil means all of them.
	Steps map[string]bool
	// Label, when set, prefixes the names of the databases created (tests).
	Label string
	// Log receives progress lines; nil means stderr.
	Log io.Writer
}

const defaultAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

func configFromEnv(getenv func(string) string) (config, error) {
	cfg := config{AdminURL: defaultAdminURL, Seed: 1}
	sizes := getenv("BENCH_SIZES")
	if strings.TrimSpace(sizes) == "" {
		sizes = "1000000 5000000"
	}
	for _, f := range strings.Fields(sizes) {
		n, err := strconv.ParseInt(strings.ReplaceAll(f, "_", ""), 10, 64)
		if err != nil || n < 1000 {
			return config{}, fmt.Errorf("BENCH_SIZES: %q is not a number of proposals of at least 1000", f)
		}
		cfg.Sizes = append(cfg.Sizes, n)
	}
	if u := getenv("TEST_DATABASE_URL"); u != "" {
		cfg.AdminURL = u
	}
	if u := getenv("BENCH_DATABASE_URL"); u != "" {
		cfg.AdminURL = u
	}
	if s := getenv("BENCH_SEED"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return config{}, fmt.Errorf("BENCH_SEED: %q is not an integer", s)
		}
		cfg.Seed = n
	}
	cfg.RunFlags = strings.Fields(getenv("BENCH_RUN_FLAGS"))
	if f := strings.Fields(strings.ReplaceAll(getenv("BENCH_STEPS"), ",", " ")); len(f) > 0 {
		cfg.Steps = map[string]bool{}
		for _, name := range f {
			if !slices.Contains(steps, name) {
				return config{}, fmt.Errorf("BENCH_STEPS: unknown case %q (the cases: %s)", name, strings.Join(steps, " "))
			}
			cfg.Steps[name] = true
		}
		// what a case needs
		if cfg.Steps["live"] {
			cfg.Steps["backlog"] = true
		}
		if cfg.Steps["day"] || cfg.Steps["export"] {
			cfg.Steps["full"] = true
		}
		if cfg.Steps["full"] || cfg.Steps["shards"] || cfg.Steps["replica"] {
			cfg.Steps["reference"] = true
		}
	}
	return cfg, nil
}

// steps are the benchmark's cases, in the order they run.
var steps = []string{"reference", "full", "day", "export", "shards", "backlog", "live", "replica"}

// step reports whether a case is measured.
func (c config) step(name string) bool { return c.Steps == nil || c.Steps[name] }
