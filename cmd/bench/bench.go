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
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	rconfig "github.com/connects/connects-reconciler/config"
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

	gnuTime bool // peak RSS measured by GNU time (see gnuTime)
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
		return fmt.Errorf("open %s: %w", rconfig.Redact(cfg.AdminURL), err)
	}
	defer b.admin.Close()
	if err := b.admin.PingContext(ctx); err != nil {
		return fmt.Errorf("PostgreSQL at %s does not answer: %w", rconfig.Redact(cfg.AdminURL), err)
	}
	defer b.dropAll()

	machine := describeMachine(ctx, b.admin)
	b.progress("machine: %s", machine.String())
	if _, err := os.Stat(gnuTime); err == nil {
		b.gnuTime = true
	} else {
		b.progress("%s (GNU time, Debian package time) is missing: every peak RSS below is an upper bound, the benchmark process's own included", gnuTime)
	}
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
	writeLiveTable(stdout, rows)
	writeTickTable(stdout, rows)
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
	Size          int64
	Seed          time.Duration
	Owed, Missing int64 // refunds owed and left missing by the seed

	Plain, Fragment time.Duration // the two references, on copies of the seed
	PlainWrote      int64
	FragmentSame    bool // the fragment reference wrote the plain one's refunds
	Full            proc
	FullWrote       int64
	Same            bool // the full run wrote the plain reference's refunds
	NoopFull        proc
	Shapes          [2]shape // a day with the online path up (95% refunded), and down
	OpenDay         shape    // issue 20's day, on A after the first shape
	NoopIncr        proc     // right after the first shape's incremental run
	Backlog         proc
	BacklogMissing  int64 // refunds the backlog left missing (the plain reference's count)
	BacklogPlain    time.Duration
	BacklogSame     bool
	Shards          proc // wall clock of all shards in parallel; the largest RSS
	ShardsSame      bool
	Export          *proc // nil: not built
	ExportRows      int64
	Copy            time.Duration // COPY (SELECT ...) TO STDOUT of the export's rows; 0: not measured
	CopyRows        int64
	Report          *proc // a month's finance report; nil: not built
	Replica         replicaCase
	Live            liveCase
	failures        []error
}

// replicaCase is step 8: the full run on the primary alone, and with a hot
// standby of the server to plan on, each on its own copy of T, with what
// the primary spent on each.
type replicaCase struct {
	NotMeasured string // why the case did not run; "" when it did
	// Without and With are the two full runs, on R0 and on R1 (planning on
	// the standby).
	Without, With runCost
	Same          bool // both wrote the plain reference's refunds
	// Setup is pg_basebackup, starting the standby and its catching up;
	// Copied the bytes pg_basebackup copied; Total the whole case,
	// copies and teardown included.
	Setup, Total time.Duration
	Copied       int64
}

// runCost is one run of the binary and what the server's statistics say the
// primary spent on it.
type runCost struct {
	proc
	Primary dbStats
	// Statements the run sent to the primary and to the replica (counted by
	// a proxy, stmtProxy); Counted is false when they were not counted.
	Statements, ReplicaStatements int64
	Counted                       bool
	PlannedOn                     string // reconciler_runs.planned_on of the run
}

// shape is one day of activity and the incremental run after it.
type shape struct {
	Name        string
	Missing     int // percent of the day's owed refunds the online path did not write
	Activity    synth.ActivityStats
	DryRun      proc
	Incremental proc
	Wrote       int64
	Same        bool // the incremental run wrote what a full plan planned
	// OfOpen, when set, shapes the day as shares of what is open (issue 20's
	// day) instead of 1% of everything.
	OfOpen *synth.OpenShape
	// Proposals is how many proposals the incremental run planned (its
	// "changed proposals" log line): those of the day's closures that can
	// entitle and of its ended auctions, not yet planned by an earlier run.
	// The proposals the day's events touched are Activity.Touched.
	Proposals int64
}

func (r *row) fail(format string, args ...any) {
	r.failures = append(r.failures, fmt.Errorf("%s proposals: "+format, append([]any{human(r.Size)}, args...)...))
}

// Flags of the binary's runs: no settle delay, limits lifted.
var (
	fullFlags = []string{"run", "--full", "--settle-delay", "0s", "--max-refunds", "0", "--max-connects", "0", "--format", "json"}
	dryFlags  = []string{"run", "--dry-run", "--full", "--settle-delay", "0s", "--max-refunds", "0", "--max-connects", "0", "--format", "json"}
	incrFlags = []string{"run", "--settle-delay", "0s", "--max-refunds", "0", "--max-connects", "0", "--format", "json"}
)

// backlogMissing is the share of all owed refunds missing in the backlog case.
const backlogMissing = 50

// measure runs every step for one size. Every case starts from a file copy of
// the seeded template T, so that the job and the references meet identical
// data; copies are dropped as soon as their case is done.
func (b *bench) measure(ctx context.Context, n int64) (*row, error) {
	r := &row{Size: n}
	prefix := fmt.Sprintf("crbench_%s%d_%d", b.cfg.Label, os.Getpid(), n)
	name := func(s string) string { return prefix + "_" + s }
	copyOf := func(db, template string) (string, error) {
		return b.dbURL(name(db)), b.createDB(ctx, name(db), name(template))
	}

	// 1. Seed the template T.
	b.progress("%s: seeding", human(n))
	if err := b.createDB(ctx, name("t"), ""); err != nil {
		return nil, err
	}
	anchor := time.Now().UTC().Add(-seedAge).Truncate(time.Second)
	err := withDB(ctx, b.dbURL(name("t")), func(db *sqlx.DB) error {
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
	b.progress("%s: seeded in %s: %d refunds owed, %d missing", human(n), secs(r.Seed), r.Owed, r.Missing)

	var plain refResult
	if b.cfg.step("reference") {
		if plain, err = b.references(ctx, r, copyOf, name); err != nil {
			return r, err
		}
	}
	if b.cfg.step("full") {
		if err := b.onA(ctx, r, anchor, plain, copyOf, name); err != nil {
			return r, err
		}
	}
	if b.cfg.step("shards") {
		if err := b.shardsCase(ctx, r, plain, copyOf, name); err != nil {
			return r, err
		}
	}
	if b.cfg.step("backlog") {
		if err := b.backlogCase(ctx, r, copyOf, name); err != nil {
			return r, err
		}
	}
	if !b.cfg.step("replica") {
		return r, nil
	}
	// 8. The full run with and without a hot standby to plan on, each on its
	// own copy of T; T goes first, so that pg_basebackup copies only R1.
	t0 := time.Now()
	if _, err := copyOf("r0", "t"); err != nil {
		return r, err
	}
	if _, err := copyOf("r1", "t"); err != nil {
		return r, err
	}
	b.drop(name("t"))
	err = b.replica(ctx, r, name("r0"), name("r1"), plain.print)
	b.drop(name("r0"), name("r1"))
	r.Replica.Total = time.Since(t0)
	if err != nil {
		return r, err
	}
	return r, nil
}

// references is step 2: the references, each on its copy: the plain one (the
// limit) and the job's policy fragment as one statement. Both must write the
// same refunds.
func (b *bench) references(ctx context.Context, r *row, copyOf func(db, template string) (string, error), name func(string) string) (refResult, error) {
	urlP, err := copyOf("plain", "t")
	if err != nil {
		return refResult{}, err
	}
	plain, err := b.reference(ctx, urlP, false)
	if err != nil {
		return refResult{}, err
	}
	r.Plain, r.PlainWrote = plain.took, plain.wrote
	urlF, err := copyOf("fragment", "t")
	if err != nil {
		return refResult{}, err
	}
	fragment, err := b.reference(ctx, urlF, true)
	if err != nil {
		return refResult{}, err
	}
	r.Fragment, r.FragmentSame = fragment.took, fragment.print == plain.print
	b.drop(name("plain"), name("fragment"))
	b.progress("%s: plain reference wrote %d refunds in %s, fragment reference %d in %s", human(r.Size),
		plain.wrote, secs(r.Plain), fragment.wrote, secs(r.Fragment))
	if !r.FragmentSame {
		r.fail("the fragment reference's refunds (%+v) differ from the plain reference's (%+v)", fragment.print, plain.print)
	}
	if r.PlainWrote != r.Missing {
		r.fail("the plain reference wrote %d refunds, the seed left %d missing", r.PlainWrote, r.Missing)
	}
	return plain, nil
}

// onA is steps 3 to 5, on the copy A: the full run and a no-op one; a day of
// activity scattered over the whole id space, then the incremental run (on A
// with the online path up, on D, A as it is now, with it down); the export.
func (b *bench) onA(ctx context.Context, r *row, anchor time.Time, plain refResult, copyOf func(db, template string) (string, error), name func(string) string) error {
	// 3. The full run and a no-op one, on A.
	urlA, err := copyOf("a", "t")
	if err != nil {
		return err
	}
	defer b.drop(name("a"))
	if r.Full, err = b.exec(ctx, urlA, "full", fullFlags...); err != nil {
		return err
	}
	r.FullWrote = int64(len(r.Full.Report.Refunds))
	if r.Same, err = b.samePrint(ctx, urlA, plain.print); err != nil {
		return err
	}
	if !r.Same {
		r.fail("the full run's refunds differ from the plain reference's")
	}
	b.progress("%s: full run wrote %d refunds in %s (%.2f× the plain reference), peak RSS %s MiB",
		human(r.Size), r.FullWrote, secs(r.Full.Wall), ratio(r.Full.Wall, r.Plain), mib(r.Full.RSS))
	if r.NoopFull, err = b.exec(ctx, urlA, "noop-full", fullFlags...); err != nil {
		return err
	}
	if got := len(r.NoopFull.Report.Refunds); got != 0 {
		r.fail("the no-op full run wrote %d refunds", got)
	}
	b.progress("%s: no-op full run in %s, peak RSS %s MiB", human(r.Size), secs(r.NoopFull.Wall), mib(r.NoopFull.RSS))

	// 4. A day of activity scattered over the whole id space, then the
	// incremental run: on A with the online path up, on D (A as it is now)
	// with it down.
	if b.cfg.step("day") {
		urlD, err := copyOf("d", "a")
		if err != nil {
			return err
		}
		r.Shapes = [2]shape{{Name: "online path refunding 95%", Missing: synth.DefaultMissingPercent}, {Name: "online path down", Missing: 100}}
		for i, dbURL := range []string{urlA, urlD} {
			if err := b.day(ctx, dbURL, r, &r.Shapes[i]); err != nil {
				return err
			}
			if i == 0 {
				if r.NoopIncr, err = b.exec(ctx, urlA, "noop-incremental", incrFlags...); err != nil {
					return err
				}
				if got := len(r.NoopIncr.Report.Refunds); got != 0 {
					r.fail("the no-op incremental run wrote %d refunds", got)
				}
				b.progress("%s: no-op incremental run in %s, peak RSS %s MiB", human(r.Size), secs(r.NoopIncr.Wall), mib(r.NoopIncr.RSS))
			}
		}
		b.drop(name("d"))

		// 4b. Issue 20's day on A: shares of what is open close and end,
		// scattered over every age of job, the online path up.
		r.OpenDay = shape{Name: "issue 20's day (shares of the open), online path refunding 95%",
			Missing: synth.DefaultMissingPercent, OfOpen: &synth.Issue20Day}
		if err := b.day(ctx, urlA, r, &r.OpenDay); err != nil {
			return err
		}
	}

	// 5. The export of every refund, and COPY of the same rows, on A; a
	// month's report.
	if b.cfg.step("export") {
		if err := b.export(ctx, urlA, anchor, r); err != nil {
			return err
		}
		return b.report(ctx, urlA, r)
	}
	return nil
}

// shardsCase is step 6: shards in parallel, on C.
func (b *bench) shardsCase(ctx context.Context, r *row, plain refResult, copyOf func(db, template string) (string, error), name func(string) string) error {
	urlC, err := copyOf("c", "t")
	if err != nil {
		return err
	}
	defer b.drop(name("c"))
	if r.Shards, err = b.shards(ctx, urlC); err != nil {
		return err
	}
	if r.ShardsSame, err = b.samePrint(ctx, urlC, plain.print); err != nil {
		return err
	}
	if !r.ShardsSame {
		r.fail("the shards' refunds differ from the plain reference's")
	}
	b.progress("%s: %d shards in parallel in %s, largest peak RSS %s MiB", human(r.Size), Shards, secs(r.Shards.Wall), mib(r.Shards.RSS))
	return nil
}

// backlogCase is step 7: the backlog, the online path failed for half of
// what is owed. The job's full run on E, the plain reference on its copy EP;
// with the live case, the same backlog on EL under the live load.
func (b *bench) backlogCase(ctx context.Context, r *row, copyOf func(db, template string) (string, error), name func(string) string) error {
	urlE, err := copyOf("e", "t")
	if err != nil {
		return err
	}
	defer b.drop(name("e"), name("ep"), name("el"))
	err = withDB(ctx, urlE, func(db *sqlx.DB) error {
		// The seed left DefaultMissingPercent missing; take away the share of
		// the rest that leaves backlogMissing percent of all owed missing.
		pct := 100 * float64(backlogMissing-synth.DefaultMissingPercent) / float64(100-synth.DefaultMissingPercent)
		if _, err := synth.Backlog(ctx, db, b.cfg.Seed, pct); err != nil {
			return err
		}
		_, err := db.ExecContext(ctx, "VACUUM ANALYZE connects_ledger, connects_balances")
		return err
	})
	if err != nil {
		return err
	}
	urlEP, err := copyOf("ep", "e")
	if err != nil {
		return err
	}
	var urlEL string
	if b.cfg.step("live") {
		if urlEL, err = copyOf("el", "e"); err != nil {
			return err
		}
	}
	backlogRef, err := b.reference(ctx, urlEP, false)
	if err != nil {
		return err
	}
	b.drop(name("ep"))
	r.BacklogPlain, r.BacklogMissing = backlogRef.took, backlogRef.wrote
	if r.Backlog, err = b.exec(ctx, urlE, "backlog", fullFlags...); err != nil {
		return err
	}
	if r.BacklogSame, err = b.samePrint(ctx, urlE, backlogRef.print); err != nil {
		return err
	}
	if !r.BacklogSame || int64(len(r.Backlog.Report.Refunds)) != r.BacklogMissing {
		r.fail("the backlog run wrote %d refunds, not the plain reference's %d", len(r.Backlog.Report.Refunds), r.BacklogMissing)
	}
	b.drop(name("e"))
	b.progress("%s: backlog: plain reference wrote %d refunds in %s, the job in %s, peak RSS %s MiB", human(r.Size),
		r.BacklogMissing, secs(r.BacklogPlain), secs(r.Backlog.Wall), mib(r.Backlog.RSS))
	if urlEL == "" {
		return nil
	}
	// 7b. The live case: the same backlog, its dry run and its run, each
	// while the marketplace's own transactions go on.
	return b.live(ctx, urlEL, r, backlogRef.print)
}

// replica is step 8: the full run on R0 without a replica, then a hot
// standby of the server (started once R1 is the only copy left) and the full
// run on R1 planning on it; both must write the plain reference's refunds.
// What the primary spent on each is read from pg_stat_database around the
// run, and the statements sent are counted by a proxy. The standby is
// stopped and removed before this returns, also on failure and interrupt.
func (b *bench) replica(ctx context.Context, r *row, r0, r1 string, want synth.Fingerprint) error {
	rc := &r.Replica
	var err error
	if rc.Without, err = b.costedRun(ctx, r0, "", "full-without-replica"); err != nil {
		return err
	}
	same0, err := b.samePrint(ctx, b.dbURL(r0), want)
	if err != nil {
		return err
	}
	b.drop(r0)
	b.progress("%s: full run without a replica: %d refunds in %s, peak RSS %s MiB; the primary: %s", human(r.Size),
		len(rc.Without.Report.Refunds), secs(rc.Without.Wall), mib(rc.Without.RSS), rc.Without.describe())

	t0 := time.Now()
	sb, err := startStandby(ctx, b.admin, b.cfg.AdminURL)
	defer sb.stop()
	if errors.Is(err, errNoReplication) {
		rc.NotMeasured = err.Error()
		b.progress("%s: replica case not measured: %v", human(r.Size), err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("start a standby: %w", err)
	}
	if err := sb.catchUp(ctx, b.admin, r1); err != nil {
		return err
	}
	rc.Setup, rc.Copied = time.Since(t0), sb.size()
	b.progress("%s: standby started and caught up in %s (pg_basebackup copied %s MiB)", human(r.Size), secs(rc.Setup), mib(rc.Copied>>10))
	if rc.With, err = b.costedRun(ctx, r1, sb.url(r1), "full-with-replica"); err != nil {
		return err
	}
	sb.stop()
	same1, err := b.samePrint(ctx, b.dbURL(r1), want)
	if err != nil {
		return err
	}
	rc.Same = same0 && same1
	if !same0 || !same1 {
		r.fail("replica case: the full runs' refunds differ from the plain reference's (without a replica: same %v; with: same %v)", same0, same1)
	}
	if rc.Without.PlannedOn != "primary" || rc.With.PlannedOn != "replica" {
		r.fail("replica case: the runs planned on %q (without a replica) and %q (with), want primary and replica",
			rc.Without.PlannedOn, rc.With.PlannedOn)
	}
	b.progress("%s: full run with a replica: %d refunds in %s, peak RSS %s MiB; the primary: %s; %d statements on the replica", human(r.Size),
		len(rc.With.Report.Refunds), secs(rc.With.Wall), mib(rc.With.RSS), rc.With.describe(), rc.With.ReplicaStatements)
	return nil
}

// costedRun runs a full run of the binary on database db of the server,
// planning on replicaURL when it is set, and measures what the primary spent
// on it: the deltas of pg_stat_database for db around the run (read once the
// job's backends have exited and flushed their counters), and the statements
// sent, counted by a proxy in front of each server.
func (b *bench) costedRun(ctx context.Context, db, replicaURL, name string) (runCost, error) {
	var c runCost
	primary, via, ok, err := newStmtProxy(b.dbURL(db))
	if err != nil {
		return c, err
	}
	defer primary.Close()
	c.Counted = ok
	var env []string
	var replica *stmtProxy
	if replicaURL != "" {
		var viaR string
		var okR bool
		if replica, viaR, okR, err = newStmtProxy(replicaURL); err != nil {
			return c, err
		}
		defer replica.Close()
		c.Counted = c.Counted && okR
		env = append(env, "REPLICA_DATABASE_URL="+viaR)
	}
	before, err := readStats(ctx, b.admin, db)
	if err != nil {
		return c, err
	}
	if c.proc, err = b.execEnv(ctx, via, env, name, fullFlags...); err != nil {
		return c, err
	}
	primary.Close()
	replica.Close()
	after, err := readStats(ctx, b.admin, db)
	if err != nil {
		return c, err
	}
	c.Primary = after.sub(before)
	c.Statements, c.ReplicaStatements = primary.Statements(), replica.Statements()
	err = withDB(ctx, b.dbURL(db), func(d *sqlx.DB) error {
		return d.GetContext(ctx, &c.PlannedOn, `SELECT coalesce(string_agg(DISTINCT coalesce(planned_on, 'none'), ','), '') FROM reconciler_runs`)
	})
	return c, err
}

// describe says what the primary spent on a run.
func (c runCost) describe() string {
	stmts := "statements not counted"
	if c.Counted {
		stmts = fmt.Sprintf("%d statements", c.Statements)
	}
	return fmt.Sprintf("%s, %d transactions, %.2f s active, %d rows read, %d blocks, %d sessions",
		stmts, c.Primary.Xacts, c.Primary.ActiveMS/1000, c.Primary.Rows, c.Primary.Blocks, c.Primary.Sessions)
}

// refResult is what one reference statement did.
type refResult struct {
	took  time.Duration
	wrote int64
	print synth.Fingerprint
}

// reference runs the plain reference (or the fragment one) on a database, in
// a session opened the way the job opens its own (postgres.Open: the same
// session settings), without timeouts, and fingerprints the ledger after.
func (b *bench) reference(ctx context.Context, dbURL string, fragment bool) (refResult, error) {
	var out refResult
	err := withJobSession(ctx, dbURL, func(db *sqlx.DB) error {
		var now time.Time
		if err := db.GetContext(ctx, &now, "SELECT now()"); err != nil {
			return err
		}
		t0 := time.Now()
		var w synth.Written
		var err error
		if fragment {
			w, err = synth.FragmentReference(ctx, db, reconcile.DefaultPolicy(), now)
		} else {
			w, err = synth.PlainReference(ctx, db, now)
		}
		if err != nil {
			return err
		}
		out.took, out.wrote = time.Since(t0), w.Refunds
		out.print, err = synth.RefundFingerprint(ctx, db)
		return err
	})
	return out, err
}

// day adds a day of activity of one shape to a database after a full run,
// then runs a full dry run (what a full run would write) and the timed
// incremental run, which must write exactly that: the day's missing refunds.
func (b *bench) day(ctx context.Context, dbURL string, r *row, s *shape) error {
	err := withDB(ctx, dbURL, func(db *sqlx.DB) error {
		// The last successful run was minutes ago; say it was a day ago, so
		// that the day generated now lies inside the next run's window.
		if _, err := synth.RewindWatermarks(ctx, db, day); err != nil {
			return err
		}
		var now time.Time
		if err := db.GetContext(ctx, &now, "SELECT date_trunc('second', now()) - interval '1 second'"); err != nil {
			return err
		}
		var err error
		s.Activity, err = synth.Activity(ctx, db, synth.ActivityOptions{
			Seed: b.cfg.Seed + 1, Anchor: now, Span: day, Percent: 1, MissingPercent: s.Missing, OfOpen: s.OfOpen,
		}, b.log)
		return err
	})
	if err != nil {
		return fmt.Errorf("activity (%s): %w", s.Name, err)
	}
	a := s.Activity
	b.progress("%s: a day (%s): %d new proposals, %d closures, %d auction ends, %d late interactions, %d refunds owed, %d missing",
		human(r.Size), s.Name, a.NewProposals, a.Closures, a.AuctionEnds, a.LateInteractions, a.RefundsOwed, a.MissingRefunds)
	tag := strings.ReplaceAll(s.Name, " ", "-")
	if s.DryRun, err = b.exec(ctx, dbURL, "dry-run-"+tag, dryFlags...); err != nil {
		return err
	}
	if s.Incremental, err = b.exec(ctx, dbURL, "incremental-"+tag, incrFlags...); err != nil {
		return err
	}
	s.Wrote = int64(len(s.Incremental.Report.Refunds))
	s.Proposals = changedProposals(filepath.Join(b.tmp, "incremental-"+tag+".err"))
	s.Same = sameRefunds(s.DryRun.Report.Refunds, s.Incremental.Report.Refunds)
	if !s.Same {
		r.fail("%s: the incremental run wrote %d refunds (%d Connects), a full plan had %d (%d Connects)", s.Name,
			s.Wrote, s.Incremental.Report.connects(), len(s.DryRun.Report.Refunds), s.DryRun.Report.connects())
	}
	if s.Wrote != a.MissingRefunds {
		r.fail("%s: the incremental run wrote %d refunds, the day left %d missing", s.Name, s.Wrote, a.MissingRefunds)
	}
	b.progress("%s: incremental run (%s) wrote %d refunds in %s, peak RSS %s MiB (the full dry run before it: %s MiB)", human(r.Size),
		s.Name, s.Wrote, secs(s.Incremental.Wall), mib(s.Incremental.RSS), mib(s.DryRun.RSS))
	return nil
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

// exportRounds is how many times the export and the COPY are each timed,
// alternately (export, COPY, export, COPY): the best of each is kept. The
// first statement to read the whole ledger after the day's writes pays for
// reading it into memory and setting its rows' hint bits, which one timing in
// a fixed order charged to whichever ran first (the export).
const exportRounds = 2

// export times the export command over the whole period, when the binary
// has one, and COPY (SELECT ...) TO STDOUT of the same rows through psql,
// when psql is on the PATH, each exportRounds times, alternately.
func (b *bench) export(ctx context.Context, dbURL string, anchor time.Time, r *row) error {
	help, _ := exec.CommandContext(ctx, b.bin, "export", "-h").CombinedOutput()
	if bytes.Contains(help, []byte(`unknown command "export"`)) {
		b.progress("%s: export: not built", human(r.Size))
		return nil
	}
	from := anchor.AddDate(0, 0, -120).Format(time.RFC3339)
	to := time.Now().UTC().Add(time.Hour).Truncate(time.Second).Format(time.RFC3339)
	out := filepath.Join(b.tmp, "export.csv")
	var all synth.Fingerprint
	err := withDB(ctx, dbURL, func(db *sqlx.DB) (err error) {
		all, err = synth.RefundFingerprint(ctx, db)
		return err
	})
	if err != nil {
		return err
	}
	for round := range exportRounds {
		p, err := b.exec(ctx, dbURL, "export", "export", "--from", from, "--to", to, "--format", "csv", "--out", out)
		if err != nil {
			return err
		}
		if r.Export == nil || p.Wall < r.Export.Wall {
			peak := p.RSS
			if r.Export != nil {
				peak = max(peak, r.Export.RSS)
			}
			r.Export = &p
			r.Export.RSS = peak
		} else {
			r.Export.RSS = max(r.Export.RSS, p.RSS) // the peak of every round
		}
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
		if r.ExportRows != all.Refunds {
			r.fail("the export has %d rows, the ledger %d refunds", r.ExportRows, all.Refunds)
		}
		b.progress("%s: export %d of %d: %d refunds in %s", human(r.Size), round+1, exportRounds, r.ExportRows, secs(p.Wall))
		if err := b.copyRows(ctx, dbURL, r); err != nil {
			return err
		}
		if r.Copy > 0 && r.CopyRows != all.Refunds {
			r.fail("COPY sent %d rows, the ledger has %d refunds", r.CopyRows, all.Refunds)
		}
	}
	return nil
}

// copyRows times COPY (the export's rows) TO STDOUT in CSV through psql into
// a file: the server's own speed for shipping the same rows.
func (b *bench) copyRows(ctx context.Context, dbURL string, r *row) error {
	psql, err := exec.LookPath("psql")
	if err != nil {
		b.progress("%s: COPY: psql is not on the PATH; not measured", human(r.Size))
		return nil
	}
	q := "COPY (" + strings.TrimSpace(synth.ExportCopyQuery()) + ") TO STDOUT (FORMAT csv, HEADER)"
	path := filepath.Join(b.tmp, "copy.csv")
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var stderr bytes.Buffer
	conn, env := psqlConn(dbURL)
	cmd := exec.CommandContext(ctx, psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", conn, "-c", q)
	cmd.Env = append(cleanEnv(), env...)
	cmd.Stdout, cmd.Stderr = f, &stderr
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("psql COPY: %w\n%s", err, stderr.String())
	}
	took := time.Since(t0)
	if r.Copy == 0 || took < r.Copy {
		r.Copy = took // the best of the rounds (exportRounds)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	lines, err := countLines(f)
	if err != nil {
		return err
	}
	r.CopyRows = lines - 1 // the header
	b.progress("%s: COPY of %d rows in %s", human(r.Size), r.CopyRows, secs(took))
	return nil
}

// psqlConn returns a URL psql (libpq) reads as Go's database/sql does: libpq
// does not decode "+" in a URL's query as a space, so the options parameter
// (e.g. "-c jit=off") moves to PGOPTIONS.
func psqlConn(dbURL string) (string, []string) {
	u, err := url.Parse(dbURL)
	if err != nil || u.Scheme == "" {
		return dbURL, nil
	}
	q := u.Query()
	opts := q.Get("options")
	if opts == "" {
		return dbURL, nil
	}
	q.Del("options")
	u.RawQuery = q.Encode()
	return u.String(), []string{"PGOPTIONS=" + opts}
}

// countLines counts the newlines of a reader.
func countLines(rd io.Reader) (int64, error) {
	var n int64
	buf := make([]byte, 1<<16)
	for {
		k, err := rd.Read(buf)
		n += int64(bytes.Count(buf[:k], []byte{'\n'}))
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// samePrint reports whether a database holds the refunds of a reference.
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

// gnuTime measures a run's peak RSS from a small process of its own (GNU
// time's %M, KiB: wait4's ru_maxrss of the job, its child). The bench cannot
// take ru_maxrss of a child it starts itself: Go starts children by clone
// with CLONE_VM (vfork semantics), and Linux carries the parent's high-water
// mark into the child's maxrss at exec, so every run would weigh at least
// as much as the benchmark process had ever been. Without GNU time the
// figures are that upper bound, and the benchmark says so.
const gnuTime = "/usr/bin/time"

// readRSS reads the peak RSS GNU time wrote: the file's last line (a line
// before it says when the command failed); 0 when there is none.
func readRSS(path string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	lines := strings.Fields(string(data))
	if len(lines) == 0 {
		return 0
	}
	n, _ := strconv.ParseInt(lines[len(lines)-1], 10, 64)
	return n
}

// exec runs the binary against a database and measures its wall clock and
// peak RSS (see gnuTime). A run's JSON report is read.
func (b *bench) exec(ctx context.Context, dbURL, name string, args ...string) (proc, error) {
	return b.execEnv(ctx, dbURL, nil, name, args...)
}

// execEnv is exec with more environment variables (REPLICA_DATABASE_URL).
func (b *bench) execEnv(ctx context.Context, dbURL string, env []string, name string, args ...string) (proc, error) {
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
	rssPath := filepath.Join(b.tmp, name+".rss")
	path, argv := b.bin, args
	if b.gnuTime {
		path, argv = gnuTime, append([]string{"-f", "%M", "-o", rssPath, b.bin}, args...)
	}
	cmd := exec.CommandContext(ctx, path, argv...)
	cmd.Env = append(append(cleanEnv(), "DATABASE_URL="+dbURL), env...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// A process group of its own, killed whole on interrupt: the job is
	// time's child.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	t0 := time.Now()
	runErr := cmd.Run()
	p := proc{Wall: time.Since(t0)}
	if b.gnuTime {
		p.RSS = readRSS(rssPath)
	} else if cmd.ProcessState != nil {
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
		if strings.HasPrefix(kv, "RECONCILER_") || strings.HasPrefix(kv, "DATABASE_URL=") || strings.HasPrefix(kv, "REPLICA_DATABASE_URL=") {
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
	names := b.created
	b.created = nil
	b.mu.Unlock()
	b.dropNames(names)
}

// drop drops some of the databases this benchmark created, to free the disk
// as soon as their case is done.
func (b *bench) drop(names ...string) {
	b.mu.Lock()
	var kept []string
	for _, c := range b.created {
		if !slices.Contains(names, c) {
			kept = append(kept, c)
		}
	}
	b.created = kept
	b.mu.Unlock()
	b.dropNames(names)
}

func (b *bench) dropNames(names []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, name := range names {
		if _, err := b.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)"); err != nil {
			b.progress("drop database %s: %v", name, err)
		}
	}
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
		return fmt.Errorf("connect to %s: %w", rconfig.Redact(dbURL), err)
	}
	return fn(db)
}
