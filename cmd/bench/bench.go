package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/connects/connects-reconciler/reconcile"
	"github.com/connects/connects-reconciler/reconcile/postgres"
	"github.com/connects/connects-reconciler/synth"
)

// Shards is how many shards run in parallel (the machine has 2 cores).
const Shards = 2

// seedAge is how long before the benchmark the seeded marketplace ends: older
// than the day of new activity plus the lookback, so that an incremental run
// after the day reads only the day.
const seedAge = 48 * time.Hour

// day is the span of the new activity.
const day = 24 * time.Hour

// bench holds what every size shares.
type bench struct {
	cfg   config
	admin *sqlx.DB
	bin   string // the connects-reconciler binary
	tmp   string
	log   *zap.Logger
	out   io.Writer // progress

	mu      sync.Mutex
	created []string // databases to drop
}

// run measures every size and prints the table on stdout.
func run(ctx context.Context, cfg config, stdout, stderr io.Writer) (err error) {
	if cfg.Log == nil {
		cfg.Log = stderr
	}
	b := &bench{cfg: cfg, out: cfg.Log}
	b.log = zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()),
		zapcore.AddSync(cfg.Log), zapcore.WarnLevel))

	b.tmp, err = os.MkdirTemp("", "connects-bench-")
	if err != nil {
		return fmt.Errorf("temporary directory: %w", err)
	}
	defer os.RemoveAll(b.tmp)
	if err := b.build(ctx); err != nil {
		return err
	}
	b.admin, err = sqlx.Open("postgres", cfg.AdminURL)
	if err != nil {
		return fmt.Errorf("open %s: %w", postgres.Redact(cfg.AdminURL), err)
	}
	defer b.admin.Close()
	if err := b.admin.PingContext(ctx); err != nil {
		return fmt.Errorf("PostgreSQL at %s does not answer: %w", postgres.Redact(cfg.AdminURL), err)
	}
	defer b.dropAll()

	machine := describeMachine(ctx, b.admin)
	b.progress("machine: %s", machine.String())
	var rows []*row
	var failures []error
	for _, n := range cfg.Sizes {
		r, err := b.measure(ctx, n)
		if r != nil {
			rows = append(rows, r)
			failures = append(failures, r.failures...)
		}
		b.dropAll() // free the disk before the next size
		if err != nil {
			failures = append(failures, fmt.Errorf("%s proposals: %w", human(n), err))
			if ctx.Err() != nil {
				break
			}
		}
	}
	writeTable(stdout, machine, rows)
	return errors.Join(failures...)
}

// build compiles the real binary, as it ships, into the temporary directory.
func (b *bench) build(ctx context.Context) error {
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	b.bin = filepath.Join(b.tmp, "connects-reconciler")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", b.bin, "./cmd/connects-reconciler")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	return nil
}

func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run the benchmark inside the connects-reconciler module (go run ./cmd/bench)")
	}
	return filepath.Dir(mod), nil
}

func (b *bench) progress(format string, args ...any) {
	fmt.Fprintf(b.out, "bench: "+format+"\n", args...)
}

// row is what one size measured.
type row struct {
	Size           int64
	Seed           time.Duration
	Owed, Missing  int64 // refunds owed and left missing by the seed
	Reference      time.Duration
	ReferenceWrote int64
	Full           proc
	FullWrote      int64
	Same           bool // the full run wrote the reference's refunds
	NoopFull       proc
	Activity       synth.ActivityStats
	DryRun         proc
	Incremental    proc
	IncrWrote      int64
	IncrSame       bool // the incremental run wrote what a full plan planned
	NoopIncr       proc
	Shards         proc // wall clock of all shards in parallel; the largest RSS
	ShardsSame     bool
	Export         *proc // nil: not built
	ExportRows     int64
	failures       []error
}

func (r *row) fail(format string, args ...any) {
	r.failures = append(r.failures, fmt.Errorf("%s proposals: "+format, append([]any{human(r.Size)}, args...)...))
}

// measure runs every step for one size.
func (b *bench) measure(ctx context.Context, n int64) (*row, error) {
	r := &row{Size: n}
	prefix := fmt.Sprintf("crbench_%s%d_%d", b.cfg.Label, os.Getpid(), n)
	nameA, nameB, nameC := prefix+"_a", prefix+"_b", prefix+"_c"
	urlA, urlB, urlC := b.dbURL(nameA), b.dbURL(nameB), b.dbURL(nameC)

	// 1. Seed A, then make the identical copies B (reference) and C (shards).
	b.progress("%s: seeding", human(n))
	if err := b.createDB(ctx, nameA, ""); err != nil {
		return nil, err
	}
	anchor := time.Now().UTC().Add(-seedAge).Truncate(time.Second)
	err := withDB(ctx, urlA, func(db *sqlx.DB) error {
		if err := postgres.Migrate(ctx, db, true, zap.NewNop()); err != nil {
			return err
		}
		t0 := time.Now()
		st, err := synth.Seed(ctx, db, synth.SeedOptions{
			Seed: b.cfg.Seed, Proposals: n, Anchor: anchor, MissingPercent: synth.DefaultMissingPercent,
		}, b.log)
		if err != nil {
			return err
		}
		if _, err := db.ExecContext(ctx, "VACUUM ANALYZE"); err != nil {
			return fmt.Errorf("vacuum analyze: %w", err)
		}
		r.Seed, r.Owed, r.Missing = time.Since(t0), st.RefundsOwed, st.MissingRefunds
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	for _, name := range []string{nameB, nameC} {
		if err := b.createDB(ctx, name, nameA); err != nil {
			return nil, err
		}
	}
	b.progress("%s: seeded in %s: %d refunds owed, %d missing", human(n), secs(r.Seed), r.Owed, r.Missing)

	// 2. The reference, on B.
	var refPrint synth.Fingerprint
	// The reference's session has the settings the job's sessions get
	// (postgres.Open), without timeouts.
	err = withJobSession(ctx, urlB, func(db *sqlx.DB) error {
		var now time.Time
		if err := db.GetContext(ctx, &now, "SELECT now()"); err != nil {
			return err
		}
		t0 := time.Now()
		wrote, err := synth.FragmentReference(ctx, db, reconcile.DefaultPolicy(), now)
		if err != nil {
			return err
		}
		r.Reference, r.ReferenceWrote = time.Since(t0), wrote.Refunds
		refPrint, err = synth.RefundFingerprint(ctx, db)
		return err
	})
	if err != nil {
		return r, fmt.Errorf("reference: %w", err)
	}
	b.progress("%s: reference wrote %d refunds in %s", human(n), r.ReferenceWrote, secs(r.Reference))
	if r.ReferenceWrote != r.Missing {
		r.fail("the reference wrote %d refunds, the seed left %d missing", r.ReferenceWrote, r.Missing)
	}

	// 3. The full run, on A.
	full := []string{"run", "--full", "--settle-delay", "0s", "--max-refunds", "0", "--max-connects", "0", "--format", "json"}
	if r.Full, err = b.exec(ctx, urlA, "full", full...); err != nil {
		return r, err
	}
	r.FullWrote = int64(len(r.Full.Report.Refunds))
	r.Same, err = b.samePrint(ctx, urlA, refPrint)
	if err != nil {
		return r, err
	}
	if !r.Same {
		r.fail("the full run's refunds differ from the reference's")
	}
	b.progress("%s: full run wrote %d refunds in %s (%.2f× the reference), peak RSS %s",
		human(n), r.FullWrote, secs(r.Full.Wall), ratio(r.Full.Wall, r.Reference), mib(r.Full.RSS))

	// 4. A no-op full run.
	if r.NoopFull, err = b.exec(ctx, urlA, "noop-full", full...); err != nil {
		return r, err
	}
	if got := len(r.NoopFull.Report.Refunds); got != 0 {
		r.fail("the no-op full run wrote %d refunds", got)
	}
	b.progress("%s: no-op full run in %s", human(n), secs(r.NoopFull.Wall))

	// 5. One day of new activity, then an incremental run and a no-op one.
	err = withDB(ctx, urlA, func(db *sqlx.DB) error {
		// The last successful run was minutes ago; say it was a day ago, so
		// that the day generated now lies inside the next run's window.
		if _, err := synth.RewindWatermarks(ctx, db, day); err != nil {
			return err
		}
		var now time.Time
		if err := db.GetContext(ctx, &now, "SELECT date_trunc('second', now()) - interval '1 second'"); err != nil {
			return err
		}
		r.Activity, err = synth.Activity(ctx, db, synth.ActivityOptions{
			Seed: b.cfg.Seed + 1, Anchor: now, Span: day, Percent: 1, MissingPercent: synth.DefaultMissingPercent,
		}, b.log)
		return err
	})
	if err != nil {
		return r, fmt.Errorf("activity: %w", err)
	}
	b.progress("%s: a day of activity: %d new proposals, %d closures, %d auction ends, %d refunds owed, %d missing",
		human(n), r.Activity.NewProposals, r.Activity.Closures, r.Activity.AuctionEnds, r.Activity.RefundsOwed, r.Activity.MissingRefunds)
	dry := []string{"run", "--dry-run", "--full", "--settle-delay", "0s", "--max-refunds", "0", "--max-connects", "0", "--format", "json"}
	if r.DryRun, err = b.exec(ctx, urlA, "dry-run", dry...); err != nil {
		return r, err
	}
	incr := []string{"run", "--settle-delay", "0s", "--max-refunds", "0", "--max-connects", "0", "--format", "json"}
	if r.Incremental, err = b.exec(ctx, urlA, "incremental", incr...); err != nil {
		return r, err
	}
	r.IncrWrote = int64(len(r.Incremental.Report.Refunds))
	r.IncrSame = sameRefunds(r.DryRun.Report.Refunds, r.Incremental.Report.Refunds)
	if !r.IncrSame {
		r.fail("the incremental run wrote %d refunds (%d Connects), a full plan had %d (%d Connects)",
			r.IncrWrote, r.Incremental.Report.connects(), len(r.DryRun.Report.Refunds), r.DryRun.Report.connects())
	}
	if r.IncrWrote != r.Activity.MissingRefunds {
		r.fail("the incremental run wrote %d refunds, the day left %d missing", r.IncrWrote, r.Activity.MissingRefunds)
	}
	b.progress("%s: incremental run wrote %d refunds in %s", human(n), r.IncrWrote, secs(r.Incremental.Wall))
	if r.NoopIncr, err = b.exec(ctx, urlA, "noop-incremental", incr...); err != nil {
		return r, err
	}
	if got := len(r.NoopIncr.Report.Refunds); got != 0 {
		r.fail("the no-op incremental run wrote %d refunds", got)
	}
	b.progress("%s: no-op incremental run in %s", human(n), secs(r.NoopIncr.Wall))

	// 6. Shards in parallel, on C.
	if r.Shards, err = b.shards(ctx, urlC); err != nil {
		return r, err
	}
	r.ShardsSame, err = b.samePrint(ctx, urlC, refPrint)
	if err != nil {
		return r, err
	}
	if !r.ShardsSame {
		r.fail("the shards' refunds differ from the reference's")
	}
	b.progress("%s: %d shards in parallel in %s", human(n), Shards, secs(r.Shards.Wall))

	// 7. The export of every refund in the period, on A.
	if err := b.export(ctx, urlA, anchor, r); err != nil {
		return r, err
	}
	return r, nil
}

// shards runs every shard of a full run at once and returns the wall clock
// until the last one ended, with the largest peak RSS.
func (b *bench) shards(ctx context.Context, dbURL string) (proc, error) {
	var wg sync.WaitGroup
	results := make([]proc, Shards)
	errs := make([]error, Shards)
	t0 := time.Now()
	for i := range Shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = b.exec(ctx, dbURL, fmt.Sprintf("shard-%d", i), "run", "--full", "--shard", fmt.Sprintf("%d/%d", i, Shards),
				"--settle-delay", "0s", "--max-refunds", "0", "--max-connects", "0", "--format", "json")
		}()
	}
	wg.Wait()
	out := proc{Wall: time.Since(t0)}
	for _, p := range results {
		out.RSS = max(out.RSS, p.RSS)
	}
	return out, errors.Join(errs...)
}

// export times the export command over the whole period, when the binary
// has one.
func (b *bench) export(ctx context.Context, dbURL string, anchor time.Time, r *row) error {
	help, _ := exec.CommandContext(ctx, b.bin, "export", "-h").CombinedOutput()
	if bytes.Contains(help, []byte(`unknown command "export"`)) {
		b.progress("%s: export: not built", human(r.Size))
		return nil
	}
	from := anchor.AddDate(0, 0, -120).Format(time.RFC3339)
	to := time.Now().UTC().Add(time.Hour).Truncate(time.Second).Format(time.RFC3339)
	out := filepath.Join(b.tmp, "export.csv")
	p, err := b.exec(ctx, dbURL, "export", "export", "--from", from, "--to", to, "--format", "csv", "--out", out)
	if err != nil {
		return err
	}
	r.Export = &p
	var m struct {
		Rows int64 `json:"rows"`
	}
	data, err := os.ReadFile(out + ".manifest.json")
	if err == nil {
		err = json.Unmarshal(data, &m)
	}
	if err != nil {
		return fmt.Errorf("export manifest: %w", err)
	}
	r.ExportRows = m.Rows
	var all synth.Fingerprint
	err = withDB(ctx, dbURL, func(db *sqlx.DB) (err error) {
		all, err = synth.RefundFingerprint(ctx, db)
		return err
	})
	if err != nil {
		return err
	}
	if r.ExportRows != all.Refunds {
		r.fail("the export has %d rows, the ledger %d refunds", r.ExportRows, all.Refunds)
	}
	b.progress("%s: export of %d refunds in %s", human(r.Size), r.ExportRows, secs(p.Wall))
	return nil
}

// samePrint reports whether a database holds the refunds of the reference.
func (b *bench) samePrint(ctx context.Context, dbURL string, want synth.Fingerprint) (bool, error) {
	var got synth.Fingerprint
	err := withDB(ctx, dbURL, func(db *sqlx.DB) (err error) {
		got, err = synth.RefundFingerprint(ctx, db)
		return err
	})
	return got == want, err
}

// proc is one run of the binary.
type proc struct {
	Wall   time.Duration
	RSS    int64 // peak resident set, KiB
	Report report
}

// report is the part of the run command's JSON output the benchmark reads.
type report struct {
	Status  string   `json:"status"`
	Refunds []refund `json:"refunds"`
}

type refund struct {
	ProposalID   int64  `json:"proposal_id"`
	Component    string `json:"component"`
	Connects     int64  `json:"connects"`
	FreelancerID int64  `json:"freelancer_id"`
}

func (r report) connects() int64 {
	var n int64
	for _, x := range r.Refunds {
		n += x.Connects
	}
	return n
}

// sameRefunds compares two sets of refunds.
func sameRefunds(a, b []refund) bool {
	if len(a) != len(b) {
		return false
	}
	key := func(s []refund) []refund {
		s = append([]refund(nil), s...)
		sort.Slice(s, func(i, j int) bool {
			if s[i].ProposalID != s[j].ProposalID {
				return s[i].ProposalID < s[j].ProposalID
			}
			return s[i].Component < s[j].Component
		})
		return s
	}
	a, b = key(a), key(b)
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// exec runs the binary against a database and measures its wall clock and
// peak RSS (wait4's ru_maxrss, KiB on Linux). A run's JSON report is read.
func (b *bench) exec(ctx context.Context, dbURL, name string, args ...string) (proc, error) {
	if args[0] == "run" {
		args = append(args, b.cfg.RunFlags...)
	}
	args = append(args, "--log-format", "json")
	outPath := filepath.Join(b.tmp, name+".out")
	errPath := filepath.Join(b.tmp, name+".err")
	stdout, err := os.Create(outPath)
	if err != nil {
		return proc{}, err
	}
	defer stdout.Close()
	stderr, err := os.Create(errPath)
	if err != nil {
		return proc{}, err
	}
	defer stderr.Close()
	cmd := exec.CommandContext(ctx, b.bin, args...)
	cmd.Env = append(cleanEnv(), "DATABASE_URL="+dbURL)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	t0 := time.Now()
	runErr := cmd.Run()
	p := proc{Wall: time.Since(t0)}
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			p.RSS = ru.Maxrss
		}
	}
	if runErr != nil {
		tail, _ := os.ReadFile(errPath)
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return p, fmt.Errorf("%s (%s): %w\n%s", name, strings.Join(args, " "), runErr, tail)
	}
	if args[0] == "run" {
		data, err := os.ReadFile(outPath)
		if err != nil {
			return p, err
		}
		if err := json.Unmarshal(data, &p.Report); err != nil {
			return p, fmt.Errorf("%s: read the JSON report: %w", name, err)
		}
	}
	return p, nil
}

// cleanEnv is the environment without the reconciler's own settings, so that
// a developer's configuration does not change what is measured.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "RECONCILER_") || strings.HasPrefix(kv, "DATABASE_URL=") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// dbURL is the admin URL with another database.
func (b *bench) dbURL(name string) string {
	u, err := url.Parse(b.cfg.AdminURL)
	if err != nil || u.Scheme == "" {
		return b.cfg.AdminURL + " dbname=" + name
	}
	u.Path = "/" + name
	return u.String()
}

// createDB creates a database, as a file copy of template when one is
// given. The template must have no connections: PostgreSQL waits a few
// seconds for autovacuum to leave it, and this retries a few times more.
func (b *bench) createDB(ctx context.Context, name, template string) error {
	q := "CREATE DATABASE " + pq.QuoteIdentifier(name)
	if template != "" {
		q += " TEMPLATE " + pq.QuoteIdentifier(template) + " STRATEGY file_copy"
	}
	for attempt := 0; ; attempt++ {
		_, err := b.admin.ExecContext(ctx, q)
		if err == nil {
			break
		}
		var pqErr *pq.Error
		if attempt < 5 && errors.As(err, &pqErr) && pqErr.Code == "55006" {
			time.Sleep(time.Second)
			continue
		}
		return fmt.Errorf("create database %s: %w", name, err)
	}
	b.mu.Lock()
	b.created = append(b.created, name)
	b.mu.Unlock()
	return nil
}

// dropAll drops every database this benchmark created, even after the
// context was cancelled.
func (b *bench) dropAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, name := range b.created {
		if _, err := b.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)"); err != nil {
			b.progress("drop database %s: %v", name, err)
		}
	}
	b.created = nil
}

// withJobSession opens a database as the job does (postgres.Open: the same
// session settings), without timeouts, for fn.
func withJobSession(ctx context.Context, dbURL string, fn func(*sqlx.DB) error) error {
	db, err := postgres.Open(ctx, dbURL, postgres.Timeouts{})
	if err != nil {
		return err
	}
	defer db.Close()
	return fn(db)
}

// withDB opens a database for fn and closes it after, so that no connection
// outlives the step (a template must have none).
func withDB(ctx context.Context, dbURL string, fn func(*sqlx.DB) error) error {
	db, err := sqlx.Open("postgres", dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("connect to %s: %w", postgres.Redact(dbURL), err)
	}
	return fn(db)
}
