package main

// Process-level fault tests: the real binary killed with SIGKILL and SIGTERM
// at random moments of a long run, database URLs that are wrong, unreachable
// or lack permissions (the password never printed), a locked balance and a
// connection cut past the retry budget (exit codes), and a soak of the
// schedule command while a generator keeps closing jobs and ending auctions.
// docs/reliability.md has the counts and the commands.

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/rs/zerolog"
	"go.uber.org/zap"

	"github.com/connects/connects-reconciler/reconcile/postgres/pgtest"
	"github.com/connects/connects-reconciler/synth"
)

// envInt reads a test knob from the environment.
func envInt(t *testing.T, key string, def int) int {
	t.Helper()
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("%s: not a whole number: %q", key, v)
	}
	return n
}

func randomName(prefix string) string {
	b := make([]byte, 5)
	_, _ = crand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}

// adminExec runs statements on the test server's administrative database.
func adminExec(t *testing.T, q string) error {
	t.Helper()
	admin, err := sqlx.Open("postgres", pgtest.AdminURL())
	if err != nil {
		return err
	}
	defer admin.Close()
	_, err = admin.Exec(q)
	return err
}

// dbURL returns the test server's URL for another database and user.
func dbURL(t *testing.T, database, user, password string) string {
	t.Helper()
	u, err := url.Parse(pgtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + database
	if password != "" {
		u.User = url.UserPassword(user, password)
	} else {
		u.User = url.User(user)
	}
	return u.String()
}

func databaseOf(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

// jobLogin creates a login role that is a member of connects_reconciler, as
// production runs the job (README "Least privilege"), dropped at the end.
// Call it before the test's databases are made, so that it is dropped after.
func jobLogin(t *testing.T) string {
	t.Helper()
	name := randomName("crtest_job")
	if err := adminExec(t, "CREATE ROLE "+name+" LOGIN IN ROLE connects_reconciler"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = adminExec(t, "DROP ROLE IF EXISTS "+name) })
	return name
}

// seededCopies seeds one marketplace, deterministic by seed and anchor, and
// returns n identical copies of it (CREATE DATABASE ... TEMPLATE): seeding
// once is much cheaper than seeding n times.
func seededCopies(t *testing.T, proposals int64, missing, n int) []string {
	t.Helper()
	src := pgtest.NewURL(t)
	db := sqlx.MustOpen("postgres", src)
	anchor := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	t0 := time.Now()
	st, err := synth.Seed(context.Background(), db, synth.SeedOptions{Seed: 9, Proposals: proposals, Anchor: anchor,
		MissingPercent: missing}, zap.NewNop())
	db.Close()
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	t.Logf("seeded %d proposals, %d refunds missing, in %s", st.Proposals, st.MissingRefunds, time.Since(t0).Round(time.Millisecond))
	name := databaseOf(t, src)
	var urls []string
	for i := range n {
		cp := fmt.Sprintf("%s_copy%d", name, i)
		var err error
		for try := 0; try < 50; try++ { // the seed's backend may still be leaving
			if err = adminExec(t, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", cp, name)); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("copy the seeded database: %v", err)
		}
		t.Cleanup(func() { _ = adminExec(t, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", cp)) })
		urls = append(urls, cp)
	}
	return urls
}

// proc is a running connects-reconciler process.
type proc struct {
	cmd         *exec.Cmd
	out, errOut syncBuffer
	exited      chan struct{}
	err         error
}

func startProc(t *testing.T, bin string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), exited: make(chan struct{})}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.errOut
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	return p
}

// wait waits for the process and returns its exit code, or -1 when a signal
// ended it.
func (p *proc) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(limit):
		_ = p.cmd.Process.Kill()
		<-p.exited
		t.Fatalf("the process did not end within %s\n%s", limit, p.errOut.String())
	}
	return p.cmd.ProcessState.ExitCode()
}

func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// ledgerState is what two databases must agree on after all: the refunds
// (every key, amount and account) and the balances.
type ledgerState struct {
	refunds  []string
	balances []string
}

func readLedger(t *testing.T, db *sqlx.DB) ledgerState {
	t.Helper()
	var s ledgerState
	if err := db.Select(&s.refunds, `SELECT format('%s/%s %s %s@%s', proposal_id, component, idempotency_key, amount, freelancer_id)
	    FROM connects_ledger WHERE entry_type = 'refund' ORDER BY proposal_id, component, idempotency_key`); err != nil {
		t.Fatal(err)
	}
	if err := db.Select(&s.balances, `SELECT freelancer_id || '=' || balance FROM connects_balances ORDER BY freelancer_id`); err != nil {
		t.Fatal(err)
	}
	return s
}

// checkLedger fails the test unless no component is refunded twice, every
// balance equals its ledger sum, and every refund the job wrote is audited.
func checkLedger(t *testing.T, db *sqlx.DB, when string) {
	t.Helper()
	var doubled, off, unaudited int
	_ = db.Get(&doubled, `SELECT count(*) FROM (SELECT 1 FROM connects_ledger WHERE entry_type = 'refund'
	    GROUP BY proposal_id, component HAVING count(*) > 1) d`)
	_ = db.Get(&off, `SELECT count(*) FROM connects_balances b
	    FULL JOIN (SELECT freelancer_id, sum(amount) AS total FROM connects_ledger GROUP BY freelancer_id) l USING (freelancer_id)
	    WHERE b.balance IS DISTINCT FROM l.total`)
	_ = db.Get(&unaudited, `SELECT count(*) FROM connects_ledger l LEFT JOIN reconciler_refunds a ON a.ledger_entry_id = l.id
	    WHERE l.idempotency_key LIKE 'refund:%' AND a.ledger_entry_id IS NULL`)
	// the job's refunds are matched in the transaction that writes them,
	// by their run, with their rule
	var unmatched int
	_ = db.Get(&unmatched, `SELECT count(*) FROM reconciler_refunds a LEFT JOIN reconciler_refund_matches m
	    ON m.ledger_entry_id = a.ledger_entry_id AND m.run_id = a.run_id AND m.rule = a.rule AND m.issued_by = 'reconciler'
	    WHERE m.ledger_entry_id IS NULL`)
	if doubled+off+unaudited+unmatched > 0 {
		t.Errorf("%s: %d components refunded twice, %d balances off their ledger sum, %d job refunds unaudited, %d not matched as written; want 0 each",
			when, doubled, off, unaudited, unmatched)
	}
}

// readMatches lists every refund entry with its match (none: "unmatched"),
// by idempotency key: what two databases that saw the same refunds must
// agree on, whichever runs matched them.
func readMatches(t *testing.T, db *sqlx.DB) []string {
	t.Helper()
	var out []string
	if err := db.Select(&out, `SELECT format('%s %s %s %s', l.idempotency_key, coalesce(m.issued_by, 'unmatched'), m.rule, m.verdict)
	    FROM connects_ledger l LEFT JOIN reconciler_refund_matches m ON m.ledger_entry_id = l.id
	    WHERE l.entry_type = 'refund' ORDER BY l.idempotency_key`); err != nil {
		t.Fatal(err)
	}
	return out
}

// newRecord waits until a run not in known records itself as running, and
// returns its id, or "" when the process ended first.
func newRecord(t *testing.T, db *sqlx.DB, known map[string]bool, p *proc) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		var ids []string
		_ = db.Select(&ids, `SELECT id FROM reconciler_runs WHERE status = 'running'`)
		for _, id := range ids {
			if !known[id] {
				return id
			}
		}
		if !p.running() {
			return ""
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatal("no run recorded itself within 2 minutes")
	return ""
}

// Kill -9 at random moments, then SIGTERM at random moments, then one run to
// the end: the ledger equals what one clean run writes on an identical copy,
// every balance equals its ledger sum, no component is refunded twice, the
// killed runs are recorded abandoned by the next run and the terminated ones
// interrupted (exit 1). The processes run as a member of connects_reconciler.
//
// Each killed run plans the whole marketplace again, so its size sets the
// test's time: 12000 proposals (about 1200 refunds missing, 120 batches)
// keep it near a minute on 2 cores. Knobs: RECONCILER_KILL_PROPOSALS (12000), RECONCILER_KILL_ITERATIONS (25),
// RECONCILER_KILL_SIGTERMS (5), RECONCILER_KILL_SEED (random order of kills).
func TestKillAtRandomMoments(t *testing.T) {
	t.Parallel()
	proposals := envInt(t, "RECONCILER_KILL_PROPOSALS", 12000)
	kills := envInt(t, "RECONCILER_KILL_ITERATIONS", 25)
	sigterms := envInt(t, "RECONCILER_KILL_SIGTERMS", 5)
	seed := envInt(t, "RECONCILER_KILL_SEED", 20261126)
	t.Logf("RECONCILER_KILL_SEED=%d RECONCILER_KILL_PROPOSALS=%d RECONCILER_KILL_ITERATIONS=%d RECONCILER_KILL_SIGTERMS=%d",
		seed, proposals, kills, sigterms)
	rng := rand.New(rand.NewPCG(uint64(seed), 1))

	built := buildBinaryAsync(t)
	user := jobLogin(t)
	copies := seededCopies(t, int64(proposals), 60, 2)
	bin := built()
	killed := dbURL(t, copies[0], user, "")
	clean := dbURL(t, copies[1], user, "")
	admin := sqlx.MustOpen("postgres", dbURL(t, copies[0], "postgres", ""))
	defer admin.Close()
	cleanAdmin := sqlx.MustOpen("postgres", dbURL(t, copies[1], "postgres", ""))
	defer cleanAdmin.Close()
	const batch = 10
	args := []string{"run", "--full", "--apply-batch-size", strconv.Itoa(batch), "--settle-delay", "0s", "--max-refunds", "0",
		"--max-connects", "0", "--retry-backoff", "10ms", "--format", "json", "--log-format", "json"}

	// One clean run on the copy: the reference, and how long a run takes.
	t0 := time.Now()
	p := startProc(t, bin, []string{"DATABASE_URL=" + clean}, args...)
	afterBatches(cleanAdmin, newRecord(t, cleanAdmin, nil, p), 1, p)
	planTime := time.Since(t0) // to start, lock, record, plan and write a batch: the "any moment" window
	if code := p.wait(t, 5*time.Minute); code != exitOK {
		t.Fatalf("clean run: exit %d\n%s", code, p.errOut.String())
	}
	runTime := time.Since(t0)
	want := readLedger(t, cleanAdmin)
	var owed int
	_ = cleanAdmin.Get(&owed, `SELECT count(*) FROM connects_ledger WHERE idempotency_key LIKE 'refund:%'`)
	t.Logf("clean run: %d refunds in %d batches, %s (%s to its first batch)", owed, (owed+batch-1)/batch, runTime.Round(time.Millisecond), planTime.Round(time.Millisecond))

	// Each signal lands after about perKill batches on average, so that the
	// work lasts until the last one.
	perKill := max(1, (owed+batch-1)/batch/(kills+sigterms+1))
	known := map[string]bool{}
	var stats struct{ killed, killedApplying, finished, locked, termed, termFinished int }
	remember := func() {
		var ids []string
		_ = admin.Select(&ids, `SELECT id FROM reconciler_runs`)
		for _, id := range ids {
			known[id] = true
		}
	}
	// gone waits until the killed process's sessions have ended on the
	// server, which frees its run lock.
	gone := func() {
		waitFor(t, time.Minute, "the killed run's sessions to end", func() bool {
			var n int
			_ = admin.Get(&n, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
			    AND application_name = 'connects-reconciler'`)
			return n == 0
		})
	}
	// ended handles a run that ended before its signal: done (exit 0) or
	// skipped for the lock (exit 0 too, saying so: tried again).
	ended := func(p *proc, what string) (again bool) {
		switch code := p.wait(t, time.Minute); code {
		case exitOK:
			if !lockSkipped(p.errOut.String()) {
				return false
			}
			stats.locked++
			gone()
			return true
		default:
			t.Fatalf("%s: the run ended by itself with exit %d\n%s", what, code, p.errOut.String())
			return false
		}
	}

	t1 := time.Now()
	for i := 0; i < kills; {
		remember()
		p := startProc(t, bin, []string{"DATABASE_URL=" + killed}, args...)
		if rng.IntN(5) == 0 {
			// Any moment up to its first batches: starting, connecting,
			// locking, planning, recording itself.
			deadline := time.Now().Add(time.Duration(rng.Int64N(int64(planTime))))
			for time.Now().Before(deadline) && p.running() && !hasNewRecord(admin, known) {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(time.Duration(rng.IntN(15000)) * time.Microsecond)
		} else if id := newRecord(t, admin, known, p); id != "" {
			// While applying: after a random number of batches, at a random
			// point of the next one's cycle.
			afterBatches(admin, id, rng.IntN(2*perKill+1)*batch, p)
			time.Sleep(time.Duration(rng.IntN(15000)) * time.Microsecond)
		}
		if !p.running() {
			if ended(p, fmt.Sprintf("kill %d", i+1)) {
				continue
			}
			if testing.Verbose() {
				var n int
				_ = admin.Get(&n, `SELECT count(*) FROM reconciler_refunds`)
				t.Logf("kill %d: the run ended first (%d of %d refunds written)", i+1, n, owed)
			}
			stats.finished++
			i++
			continue
		}
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		p.wait(t, time.Minute)
		ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
		if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("kill %d: the process was not killed: %v", i+1, p.cmd.ProcessState)
		}
		i++
		stats.killed++
		var applying int
		_ = admin.Get(&applying, `SELECT count(*) FROM reconciler_runs WHERE status = 'running' AND refunds_issued > 0
		    AND NOT id = ANY ($1)`, pq.Array(slices.Collect(maps.Keys(known))))
		stats.killedApplying += applying
		gone()
		checkLedger(t, admin, fmt.Sprintf("after kill %d", i))
	}
	killTime := time.Since(t1)

	for i := 0; i < sigterms; {
		remember()
		p := startProc(t, bin, []string{"DATABASE_URL=" + killed}, args...)
		id := newRecord(t, admin, known, p)
		if id != "" {
			afterBatches(admin, id, rng.IntN(2*perKill+1)*batch, p)
			time.Sleep(time.Duration(rng.IntN(15000)) * time.Microsecond)
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
		code := p.wait(t, time.Minute)
		switch {
		case code == exitOK && lockSkipped(p.errOut.String()):
			stats.locked++
			gone()
			continue
		case id == "" || code == exitOK:
			stats.termFinished++
		case code != exitFailed:
			t.Errorf("SIGTERM %d: exit %d, want %d\n%s", i+1, code, exitFailed, p.errOut.String())
		default:
			stats.termed++
			var status string
			_ = admin.Get(&status, `SELECT status FROM reconciler_runs WHERE id = $1`, id)
			if status != "interrupted" {
				t.Errorf("SIGTERM %d: run %s recorded %q, want interrupted", i+1, id, status)
			}
		}
		i++
		checkLedger(t, admin, fmt.Sprintf("after SIGTERM %d", i))
	}

	// The last run finishes the work.
	for {
		p := startProc(t, bin, []string{"DATABASE_URL=" + killed}, args...)
		if !ended(p, "the last run") {
			break
		}
	}
	checkLedger(t, admin, "after the last run")
	got := readLedger(t, admin)
	if !slices.Equal(got.refunds, want.refunds) {
		t.Errorf("refunds differ from one clean run: got %d entries, want %d; first difference: %s",
			len(got.refunds), len(want.refunds), firstDiff(got.refunds, want.refunds))
	}
	if !slices.Equal(got.balances, want.balances) {
		t.Errorf("balances differ from one clean run's: %s", firstDiff(got.balances, want.balances))
	}
	// Every refund entry matched once (the table's key), as one clean run
	// matched it: killed runs left no match behind, and no run rewrote one.
	if gotM, wantM := readMatches(t, admin), readMatches(t, cleanAdmin); !slices.Equal(gotM, wantM) {
		t.Errorf("refund matches differ from one clean run's: %s", firstDiff(gotM, wantM))
	}
	for _, m := range readMatches(t, admin) {
		if strings.Contains(m, " unmatched ") {
			t.Errorf("a settled refund entry left unmatched after the last run: %s", m)
			break
		}
	}
	var runs []struct {
		Status string `db:"status"`
		N      int    `db:"n"`
	}
	_ = admin.Select(&runs, `SELECT status, count(*) AS n FROM reconciler_runs GROUP BY status ORDER BY status`)
	byStatus := map[string]int{}
	for _, r := range runs {
		byStatus[r.Status] = r.N
	}
	if byStatus["running"] != 0 || byStatus["interrupted"] != stats.termed || byStatus["failed"] != 0 {
		t.Errorf("run records by status: %v, want none running or failed and %d interrupted", byStatus, stats.termed)
	}
	// Every SIGKILLed run that had recorded itself is closed as abandoned.
	if byStatus["abandoned"] > stats.killed || byStatus["abandoned"] < stats.killedApplying {
		t.Errorf("%d runs recorded abandoned; %d were killed, %d of them while applying", byStatus["abandoned"], stats.killed, stats.killedApplying)
	}
	t.Logf("phases: clean run %s, %d kills %s, SIGTERMs and the last run %s", runTime.Round(time.Millisecond),
		kills, killTime.Round(time.Millisecond), (time.Since(t1) - killTime).Round(time.Millisecond))
	t.Logf("%d SIGKILLs survived (%d while applying, %d abandoned records), %d runs finished before their kill, %d refused for the lock of a dying run; "+
		"%d SIGTERMs (exit 1, interrupted), %d finished first; ledger equals the clean run's %d refunds; runs by status %v",
		stats.killed, stats.killedApplying, byStatus["abandoned"], stats.finished, stats.locked, stats.termed, stats.termFinished, owed, byStatus)
}

// hasNewRecord reports whether a run not in known has recorded itself.
func hasNewRecord(db *sqlx.DB, known map[string]bool) bool {
	var ids []string
	_ = db.Select(&ids, `SELECT id FROM reconciler_runs`)
	for _, id := range ids {
		if !known[id] {
			return true
		}
	}
	return false
}

// afterBatches waits until run id has issued n refunds or its process ended.
func afterBatches(db *sqlx.DB, id string, n int, p *proc) {
	for p.running() {
		var issued int
		if err := db.Get(&issued, `SELECT refunds_issued FROM reconciler_runs WHERE id = $1`, id); err != nil || issued >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func firstDiff(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("at %d got %q, want %q", i, got[i], want[i])
		}
	}
	if len(got) > len(want) {
		return fmt.Sprintf("extra %q", got[len(want)])
	}
	if len(want) > len(got) {
		return fmt.Sprintf("missing %q", want[len(got)])
	}
	return "none"
}

// Database URLs that are wrong, unreachable, malformed or lack permissions:
// a clear message, exit 1 (retry later) or 2 (malformed: fix the configuration), and the password in no line of stdout or
// stderr of the real process, at debug level, in JSON and console logs.
func TestBadDatabaseURL(t *testing.T) {
	t.Parallel()
	built := buildBinaryAsync(t)
	pw := "Pw-" + randomName("s3cr3t")
	noConnect, noGrants := randomName("crtest_noconnect"), randomName("crtest_nogrants")
	for _, r := range []string{noConnect, noGrants} {
		if err := adminExec(t, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", r, pw)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = adminExec(t, "DROP ROLE IF EXISTS "+r) })
	}
	db := databaseOf(t, pgtest.NewURL(t))
	if err := adminExec(t, fmt.Sprintf("REVOKE CONNECT ON DATABASE %s FROM PUBLIC; GRANT CONNECT ON DATABASE %s TO %s",
		db, db, noGrants)); err != nil {
		t.Fatal(err)
	}
	bin := built()
	cases := []struct {
		name, dsn string
		args      []string
		code      int
		says      string
	}{
		{"wrong port", "postgres://app:" + pw + "@127.0.0.1:1/" + db + "?sslmode=disable", nil, exitFailed, "connection refused"},
		{"no server at the host", "postgres://app:" + pw + "@127.0.0.2:5433/" + db + "?sslmode=disable", nil, exitFailed, "connect to database"},
		{"malformed URL (port)", "postgres://app:" + pw + "@127.0.0.1:notaport/" + db, nil, exitUsage, `database url: port "notaport"`},
		{"malformed URL (escape)", "postgres://app:" + pw + "%zz@127.0.0.1/" + db, nil, exitUsage, "database url: the user or password has a bad %-escape"},
		{"malformed URL (sslmode)", "postgres://app:" + pw + "@127.0.0.1/" + db + "?sslmode=bogus", nil, exitUsage, `database url: sslmode "bogus"`},
		{"malformed URL (connect_timeout)", "postgres://app:" + pw + "@127.0.0.1/" + db + "?connect_timeout=abc", nil, exitUsage, `database url: connect_timeout "abc"`},
		{"malformed key=value", "host=127.0.0.1 port=x user=app password=" + pw, nil, exitUsage, `database url: port "x"`},
		{"quoted key=value password", "host=127.0.0.1 port=1 user=app password='" + pw + " two words' sslmode=disable", nil, exitFailed, "connection refused"},
		{"unknown database", dbURL(t, "crtest_missing_db", "postgres", pw), nil, exitUsage, "does not exist"},
		{"unknown user", dbURL(t, db, "crtest_nobody", pw), nil, exitUsage, "does not exist"},
		{"no CONNECT on the database", dbURL(t, db, noConnect, pw), nil, exitUsage, "permission denied for database"},
		{"no grants on the tables", dbURL(t, db, noGrants, pw), nil, exitFailed, "permission denied for table"},
		{"no grants, dry run", dbURL(t, db, noGrants, pw), []string{"--dry-run"}, exitFailed, "permission denied for table"},
		{"no grants, migrate", dbURL(t, db, noGrants, pw), []string{"migrate"}, exitUsage, "permission denied"},
		{"URL in a flag", "", []string{"--database-url", "postgres://app:" + pw + "@127.0.0.1:1/x?sslmode=disable"}, exitFailed, "connection refused"},
		{"no URL at all", "", nil, exitUsage, "DATABASE_URL"},
	}
	lines := 0
	for _, c := range cases {
		for _, format := range []string{"json", "console"} {
			args := append([]string{"run"}, c.args...)
			args = append(args, "--log-level", "debug", "--log-format", format, "--connect-timeout", "3s", "--retries", "1", "--retry-backoff", "10ms")
			if len(c.args) > 0 && c.args[0] == "migrate" {
				// migrate takes the database's and the log's settings only
				args = []string{"migrate", "--log-level", "debug", "--log-format", format, "--connect-timeout", "3s"}
			}
			env := []string{}
			if c.dsn != "" {
				env = append(env, "DATABASE_URL="+c.dsn)
			}
			p := startProc(t, bin, env, args...)
			code := p.wait(t, time.Minute)
			output := p.out.String() + p.errOut.String()
			if code != c.code {
				t.Errorf("%s (%s): exit %d, want %d\n%s", c.name, format, code, c.code, output)
			}
			says := c.says
			if format == "json" {
				// the way out is a JSON record: its message is escaped
				b, _ := json.Marshal(c.says)
				says = strings.Trim(string(b), `"`)
			}
			if !strings.Contains(p.errOut.String(), says) {
				t.Errorf("%s (%s): stderr does not say %q:\n%s", c.name, format, c.says, p.errOut.String())
			}
			if format == "json" {
				msg := strings.TrimSpace(p.errOut.String())
				t.Logf("%s: exit %d: %s", c.name, code, msg[strings.LastIndex(msg, "\n")+1:])
			}
			for i, line := range strings.Split(output, "\n") {
				lines++
				if strings.Contains(line, pw) || strings.Contains(line, "two words") {
					t.Errorf("%s (%s): line %d prints the password: %s", c.name, format, i+1, line)
				}
			}
		}
	}
	t.Logf("%d bad database URLs, each run in two log formats: %d lines of output, no password", len(cases), lines)
}

// A balance row locked by another session for the whole run: the account's
// refunds are set aside, the others written; the set-aside batch waits
// apply_lock_timeout on each of its attempts, then the run exits 1 with the
// run recorded failed and nothing of the blocked batch written; once the
// lock is gone the next run exits 0 and finishes.
func TestLockedBalanceExitCode(t *testing.T) {
	t.Parallel()
	url, db := smallMarket(t)
	env := map[string]string{"DATABASE_URL": url}
	holder := db.MustBegin()
	defer holder.Rollback()
	holder.MustExec(`SELECT balance FROM connects_balances WHERE freelancer_id = 100 FOR UPDATE`)
	start := time.Now()
	code, _, stderr := invoke(t, env, "run", "--apply-lock-timeout", "300ms", "--retries", "1", "--apply-batch-size", "1", "--format", "json")
	took := time.Since(start)
	if code != exitFailed || !strings.Contains(stderr, "lock timeout") {
		t.Fatalf("exit %d, want %d with a lock timeout:\n%s", code, exitFailed, stderr)
	}
	if took < 600*time.Millisecond || took > 10*time.Second {
		t.Errorf("the run gave up after %s; want two attempts of its apply_lock_timeout of 300ms, and not much more", took)
	}
	var rec struct {
		Status string `db:"status"`
		Issued int    `db:"refunds_issued"`
	}
	if err := db.Get(&rec, `SELECT status, refunds_issued FROM reconciler_runs`); err != nil {
		t.Fatal(err)
	}
	var for100 int
	_ = db.Get(&for100, `SELECT count(*) FROM connects_ledger WHERE idempotency_key LIKE 'refund:%' AND freelancer_id = 100`)
	if rec.Status != "failed" || for100 != 0 {
		t.Errorf("run recorded %+v with %d refunds to the locked account; want failed and 0", rec, for100)
	}
	checkLedger(t, db, "after the lock timeout")
	holder.Rollback()
	if code, _, stderr := invoke(t, env, "run", "--format", "json"); code != exitOK {
		t.Fatalf("after the lock was released: exit %d\n%s", code, stderr)
	}
	var n int
	_ = db.Get(&n, `SELECT count(*) FROM connects_ledger WHERE idempotency_key LIKE 'refund:%'`)
	if n != 3 {
		t.Errorf("after the second run: %d refunds, want 3", n)
	}
	checkLedger(t, db, "after the second run")
}

// A connection cut that outlasts the retry budget: exit 1; the next run
// exits 0 and completes the work.
func TestConnectionCutExitCode(t *testing.T) {
	t.Parallel()
	src := pgtest.NewURL(t)
	db := sqlx.MustOpen("postgres", src)
	defer db.Close()
	if _, err := synth.Seed(context.Background(), db, synth.SeedOptions{Seed: 3, Proposals: 2000,
		Anchor: time.Now().UTC().Add(-time.Hour), MissingPercent: 60}, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(src)
	px := toxiproxy.NewProxy(toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop()), "pg", "127.0.0.1:0", u.Host)
	if err := px.Start(); err != nil {
		t.Fatal(err)
	}
	defer px.Stop()
	u.Host = px.Listen
	env := map[string]string{"DATABASE_URL": u.String()}
	args := []string{"run", "--settle-delay", "0s", "--apply-batch-size", "2", "--retries", "2", "--retry-backoff", "50ms", "--format", "json"}

	type result struct {
		code   int
		stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, _, stderr := invoke(t, env, args...)
		done <- result{code, stderr}
	}()
	waitFor(t, time.Minute, "the run to apply", func() bool {
		var n int
		_ = db.Get(&n, `SELECT count(*) FROM reconciler_refunds`)
		return n > 0
	})
	if _, err := px.Toxics.AddToxicJson(strings.NewReader(`{"name": "cut", "type": "reset_peer", "stream": "upstream", "attributes": {"timeout": 0}}`)); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if err := px.Toxics.RemoveToxic(context.Background(), "cut"); err != nil {
		t.Fatal(err)
	}
	if r.code != exitFailed || !strings.Contains(r.stderr, "transient database error") {
		t.Fatalf("cut past the retries: exit %d, want %d with a transient error:\n%s", r.code, exitFailed, r.stderr)
	}
	checkLedger(t, db, "after the cut")
	// The cut run's session, and its advisory lock, can outlive the process
	// on the server until PostgreSQL notices the dead connection: meanwhile a
	// run is skipped (exit 0, saying so), as documented, and the next one does
	// the work.
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, _, stderr := invoke(t, env, args...)
		if code == exitOK && lockSkipped(stderr) && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		if code != exitOK {
			t.Fatalf("next run: exit %d\n%s", code, stderr)
		}
		break
	}
	code, stdout, stderr := invoke(t, env, "run", "--dry-run", "--settle-delay", "0s", "--format", "json")
	if code != exitOK || !strings.Contains(stdout, `"refunds": []`) && !strings.Contains(stdout, `"refunds": null`) {
		t.Errorf("after the next run a dry run still plans refunds: exit %d\n%s\n%s", code, stdout, stderr)
	}
	checkLedger(t, db, "after the next run")
	var statuses []string
	_ = db.Select(&statuses, `SELECT status FROM reconciler_runs ORDER BY started_at`)
	if len(statuses) != 2 || statuses[0] != "abandoned" && statuses[0] != "failed" || statuses[1] != "succeeded" {
		t.Errorf("run records: %v, want [abandoned or failed, succeeded]", statuses)
	}
}

// soakGenerator is the marketplace while the job runs: it posts jobs with
// proposals (fees charged, balances moved), closes them (without a hire,
// removed for a ToS violation, or hired) and ends their boost auctions, and
// refunds about half of what is owed online in the same transaction, as the
// marketplace does. Its ids follow the seed's (dense: a full sweep's cost
// follows the id span); its freelancers are the seed's, so every account has
// a balance row.
type soakGenerator struct {
	db          *sqlx.DB
	rng         *rand.Rand
	freelancers int64
	lastJob     int64
	lastProp    int64
	firstProp   int64
	open        []int64 // jobs posted, not closed
	auctions    []int64 // jobs whose auction has not ended
	stats       struct{ posted, closed, removed, hired, ended, online int }
}

func (g *soakGenerator) step(ctx context.Context) error {
	tx, err := g.db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	switch k := g.rng.IntN(10); {
	case k < 4 || len(g.open) == 0:
		err = g.post(ctx, tx)
	case k < 8:
		err = g.close(ctx, tx)
	default:
		err = g.endAuction(ctx, tx)
	}
	if err != nil {
		return err
	}
	return tx.Commit()
}

// charge appends a fee and moves the balance.
func charge(ctx context.Context, tx *sqlx.Tx, freelancer, proposal int64, typ, component, key string, connects int) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO connects_ledger (freelancer_id, amount, entry_type, proposal_id, component, idempotency_key)
	    VALUES ($1, $2, $3, $4, $5, $6)`, freelancer, -connects, typ, proposal, component, key); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE connects_balances SET balance = balance - $2 WHERE freelancer_id = $1`, freelancer, connects)
	return err
}

func (g *soakGenerator) post(ctx context.Context, tx *sqlx.Tx) error {
	g.lastJob++
	job := g.lastJob
	boosted := g.rng.IntN(2) == 0
	if _, err := tx.ExecContext(ctx, `INSERT INTO jobs (id, client_id, status) VALUES ($1, 1, 'open')`, job); err != nil {
		return err
	}
	if boosted {
		if _, err := tx.ExecContext(ctx, `INSERT INTO boost_auctions (job_id) VALUES ($1)`, job); err != nil {
			return err
		}
		g.auctions = append(g.auctions, job)
	}
	for range 1 + g.rng.IntN(4) {
		g.lastProp++
		p := g.lastProp
		f := 1 + g.rng.Int64N(g.freelancers)
		if _, err := tx.ExecContext(ctx, `INSERT INTO proposals (id, job_id, freelancer_id, submitted_at)
		    VALUES ($1, $2, $3, now() - interval '1 minute')`, p, job, f); err != nil {
			return err
		}
		if err := charge(ctx, tx, f, p, "proposal_fee", "base", fmt.Sprintf("soak-fee:%d", p), 2+g.rng.IntN(15)); err != nil {
			return err
		}
		if boosted && g.rng.IntN(2) == 0 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO boost_bids (proposal_id) VALUES ($1)`, p); err != nil {
				return err
			}
			for raise := range 1 + g.rng.IntN(2) {
				if err := charge(ctx, tx, f, p, "boost_fee", "boost", fmt.Sprintf("soak-boost:%d:%d", p, raise), 1+g.rng.IntN(25)); err != nil {
					return err
				}
			}
		}
	}
	g.open = append(g.open, job)
	g.stats.posted++
	return nil
}

// refundOnline writes about half of the refunds of the given components
// online, at the charged amount, moving the balances.
func (g *soakGenerator) refundOnline(ctx context.Context, tx *sqlx.Tx, where string, job int64) error {
	var owed []struct {
		Proposal   int64  `db:"proposal_id"`
		Component  string `db:"component"`
		Freelancer int64  `db:"freelancer_id"`
		Charged    int    `db:"charged"`
	}
	if err := tx.SelectContext(ctx, &owed, `SELECT l.proposal_id, l.component, l.freelancer_id, -sum(l.amount)::int AS charged
	    FROM connects_ledger l JOIN proposals p ON p.id = l.proposal_id
	    WHERE p.job_id = $1 AND l.entry_type IN ('proposal_fee', 'boost_fee') AND `+where+`
	    GROUP BY 1, 2, 3 ORDER BY 1, 2`, job); err != nil {
		return err
	}
	for _, o := range owed {
		if g.rng.IntN(2) == 0 {
			continue // missed online: the job's to find
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO connects_ledger (freelancer_id, amount, entry_type, proposal_id, component, idempotency_key)
		    VALUES ($1, $2, 'refund', $3, $4, $5) ON CONFLICT DO NOTHING`,
			o.Freelancer, o.Charged, o.Proposal, o.Component, fmt.Sprintf("online:soak:%d:%s", o.Proposal, o.Component))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			if _, err := tx.ExecContext(ctx, `UPDATE connects_balances SET balance = balance + $2 WHERE freelancer_id = $1`, o.Freelancer, o.Charged); err != nil {
				return err
			}
			g.stats.online++
		}
	}
	return nil
}

func (g *soakGenerator) close(ctx context.Context, tx *sqlx.Tx) error {
	i := g.rng.IntN(len(g.open))
	job := g.open[i]
	g.open = slices.Delete(g.open, i, i+1)
	status, reason := "closed", "no_hire"
	switch k := g.rng.IntN(10); {
	case k < 1:
		status, reason = "removed", "tos_violation"
		g.stats.removed++
	case k < 4:
		reason = "hired"
		g.stats.hired++
	default:
		g.stats.closed++
	}
	if _, err := tx.ExecContext(ctx, `UPDATE jobs SET status = $2, close_reason = $3, closed_at = now() WHERE id = $1`, job, status, reason); err != nil {
		return err
	}
	if reason == "hired" {
		return nil
	}
	return g.refundOnline(ctx, tx, "TRUE", job) // no interactions, no withdrawals: base and boost
}

func (g *soakGenerator) endAuction(ctx context.Context, tx *sqlx.Tx) error {
	if len(g.auctions) == 0 {
		return g.post(ctx, tx)
	}
	i := g.rng.IntN(len(g.auctions))
	job := g.auctions[i]
	g.auctions = slices.Delete(g.auctions, i, i+1)
	if _, err := tx.ExecContext(ctx, `UPDATE boost_auctions SET ended_at = now() WHERE job_id = $1`, job); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE boost_bids b SET outcome = CASE WHEN hashint8(b.proposal_id) % 3 = 0 THEN 'won' ELSE 'outbid' END,
	        outbid_at = CASE WHEN hashint8(b.proposal_id) % 3 = 0 THEN NULL ELSE now() - interval '1 second' END
	    FROM proposals p WHERE p.id = b.proposal_id AND p.job_id = $1`, job); err != nil {
		return err
	}
	g.stats.ended++
	return g.refundOnline(ctx, tx, `l.component = 'boost' AND EXISTS (SELECT 1 FROM boost_bids b WHERE b.proposal_id = l.proposal_id AND b.outcome = 'outbid')`, job)
}

// The schedule command firing every second while the generator keeps
// posting, closing and ending auctions: every run succeeds, and afterwards
// nothing is missing (a full dry run plans nothing; every generated
// component owed by the rules has exactly one refund of the charged amount)
// and nothing is doubled. RECONCILER_SOAK sets the duration (default 20s;
// `RECONCILER_SOAK=2m go test -run TestSoakSchedule ./cmd/connects-reconciler`).
func TestSoakSchedule(t *testing.T) {
	t.Parallel()
	soak := 20 * time.Second
	if v := os.Getenv("RECONCILER_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("RECONCILER_SOAK: %v", err)
		}
		soak = d
	}
	built := buildBinaryAsync(t)
	user := jobLogin(t)
	src := pgtest.NewURL(t)
	db := sqlx.MustOpen("postgres", src)
	defer db.Close()
	if _, err := synth.Seed(context.Background(), db, synth.SeedOptions{Seed: 4, Proposals: 2000,
		Anchor: time.Now().UTC().Add(-time.Hour), MissingPercent: 30}, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	gen := &soakGenerator{db: db, rng: rand.New(rand.NewPCG(4, 4))}
	if err := db.QueryRow(`SELECT (SELECT max(freelancer_id) FROM connects_balances), (SELECT max(id) FROM jobs),
	    (SELECT max(id) FROM proposals)`).Scan(&gen.freelancers, &gen.lastJob, &gen.lastProp); err != nil {
		t.Fatal(err)
	}
	gen.firstProp = gen.lastProp + 1
	bin := built()
	p := startProc(t, bin, []string{"DATABASE_URL=" + dbURL(t, databaseOf(t, src), user, "")}, "schedule",
		"--schedule", "@every 1s", "--listen-address", freeAddr(t), "--settle-delay", "0s",
		"--max-refunds", "0", "--max-connects", "0", "--apply-batch-size", "50", "--log-format", "json")
	defer func() {
		if p.running() {
			_ = p.cmd.Process.Kill()
		}
	}()

	ctx := context.Background()
	end := time.Now().Add(soak)
	steps := 0
	for time.Now().Before(end) {
		if !p.running() {
			t.Fatalf("schedule ended during the soak: %v\n%s", p.err, p.errOut.String())
		}
		if err := gen.step(ctx); err != nil {
			t.Fatalf("generator step %d: %v", steps, err)
		}
		steps++
		time.Sleep(time.Duration(20+gen.rng.IntN(60)) * time.Millisecond)
	}
	var stopped time.Time
	if err := db.Get(&stopped, `SELECT now()`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "a run started after the generator stopped to succeed", func() bool {
		var n int
		_ = db.Get(&n, `SELECT count(*) FROM reconciler_runs WHERE status = 'succeeded' AND started_at > $1`, stopped)
		return n > 0
	})
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, time.Minute); code != exitOK && code != exitFailed {
		t.Errorf("schedule after SIGTERM: exit %d, want 0 (idle) or 1 (a run interrupted)\n%s", code, p.errOut.String())
	}

	checkLedger(t, db, "after the soak")
	if testing.Verbose() {
		var durations []string
		_ = db.Select(&durations, `SELECT format('%s %s %s planned=%s issued=%s', scope, status, finished_at - started_at, refunds_planned, refunds_issued)
		    FROM reconciler_runs ORDER BY started_at`)
		t.Logf("runs: %v", durations)
	}
	var runs []struct {
		Status string `db:"status"`
		Scope  string `db:"scope"`
		N      int    `db:"n"`
	}
	_ = db.Select(&runs, `SELECT status, scope, count(*) AS n FROM reconciler_runs GROUP BY 1, 2 ORDER BY 1, 2`)
	total := 0
	for _, r := range runs {
		total += r.N
		if r.Status != "succeeded" && !(r.Status == "interrupted" && r.N == 1) {
			t.Errorf("%d runs %s (%s): want every run to succeed (one interrupted by the stop at most)", r.N, r.Status, r.Scope)
		}
	}
	// Nothing missing, by the job's own policy: a full dry run plans nothing.
	code, stdout, stderr := invoke(t, map[string]string{"DATABASE_URL": src}, "run", "--dry-run", "--full", "--settle-delay", "0s", "--format", "json")
	if code != exitOK || !strings.Contains(stdout, `"refunds": []`) {
		t.Errorf("after the soak a full dry run still plans refunds: exit %d\n%.2000s\n%s", code, stdout, stderr)
	}
	// Nothing missing, nothing doubled, by a plain model of the generator's
	// world (no interactions, no withdrawals): base owed on jobs closed
	// without a hire or removed; boost owed there too and on outbid bids.
	var wrong []string
	if err := db.Select(&wrong, `
	    WITH charged AS (
	        SELECT l.proposal_id, l.component, -sum(l.amount) AS charged FROM connects_ledger l
	        WHERE l.proposal_id >= $1 AND l.entry_type IN ('proposal_fee', 'boost_fee') GROUP BY 1, 2),
	    owed AS (
	        SELECT c.proposal_id, c.component, c.charged,
	               (j.status = 'closed' AND j.close_reason = 'no_hire') OR (j.status = 'removed' AND j.close_reason = 'tos_violation')
	               OR (c.component = 'boost' AND b.outcome = 'outbid' AND a.ended_at IS NOT NULL) AS is_owed
	        FROM charged c JOIN proposals p ON p.id = c.proposal_id JOIN jobs j ON j.id = p.job_id
	        LEFT JOIN boost_bids b ON b.proposal_id = c.proposal_id LEFT JOIN boost_auctions a ON a.job_id = j.id),
	    refunded AS (
	        SELECT proposal_id, component, count(*) AS n, sum(amount) AS amount FROM connects_ledger
	        WHERE entry_type = 'refund' AND proposal_id >= $1 GROUP BY 1, 2)
	    SELECT format('%s/%s owed=%s charged=%s refunds=%s amount=%s', o.proposal_id, o.component, o.is_owed, o.charged, r.n, r.amount)
	    FROM owed o LEFT JOIN refunded r USING (proposal_id, component)
	    WHERE CASE WHEN o.is_owed THEN r.n IS DISTINCT FROM 1 OR r.amount <> o.charged ELSE r.n IS NOT NULL END`, gen.firstProp); err != nil {
		t.Fatal(err)
	}
	if len(wrong) > 0 {
		t.Errorf("%d generated components wrongly refunded: %v", len(wrong), wrong[:min(len(wrong), 10)])
	}
	var jobRefunds int
	_ = db.Get(&jobRefunds, `SELECT count(*) FROM connects_ledger WHERE idempotency_key LIKE 'refund:%' AND proposal_id >= $1`, gen.firstProp)
	t.Logf("soak %s: %d generator steps (%d jobs posted, %d closed without hire, %d removed, %d hired, %d auctions ended), "+
		"%d refunds online, %d by the job; %d runs %v; nothing missing, nothing doubled",
		soak, steps, gen.stats.posted, gen.stats.closed, gen.stats.removed, gen.stats.hired, gen.stats.ended,
		gen.stats.online, jobRefunds, total, runs)
}

// lockSkipped says a run's stderr reports it skipped because another run
// held the lock (exit 0: a skip is not a failure).
func lockSkipped(stderr string) bool {
	return strings.Contains(stderr, "skipped: another run holds the lock")
}
