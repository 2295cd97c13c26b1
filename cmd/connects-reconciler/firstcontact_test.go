package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/connects/connects-reconciler/reconcile/postgres/pgtest"
)

// exe runs the real binary with exactly env as its environment (and PATH),
// for at most a minute.
func exe(t *testing.T, bin string, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("%v: %v", args, err)
		}
	}
	if ctx.Err() != nil {
		t.Errorf("%v: still running after 60s, killed", args)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}

// jsonRecords parses stderr as JSON log records, one a line, failing the
// test on any line that is not one, and returns them.
func jsonRecords(t *testing.T, what, stderr string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimRight(stderr, "\n"), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("%s: a line of stderr is not a JSON record: %q", what, line)
			continue
		}
		recs = append(recs, rec)
	}
	return recs
}

// wayOut checks that a failed command's last record is a JSON error record
// with its exit code and a message containing every one of says.
func wayOut(t *testing.T, what string, code int, stderr string, wantCode int, says ...string) {
	t.Helper()
	if code != wantCode {
		t.Errorf("%s: exit %d, want %d\n%s", what, code, wantCode, stderr)
	}
	recs := jsonRecords(t, what, stderr)
	if len(recs) == 0 {
		t.Errorf("%s: no JSON record on stderr", what)
		return
	}
	last := recs[len(recs)-1]
	msg, _ := last["msg"].(string)
	if last["level"] != "error" || last["exit_code"] != float64(wantCode) {
		t.Errorf("%s: last record %v; want level error and exit_code %d", what, last, wantCode)
	}
	for _, s := range says {
		if !strings.Contains(msg, s) {
			t.Errorf("%s: the error record does not say %q: %s", what, s, msg)
		}
	}
}

// TestYourOwnDatabase is a new user's first contact, through the real
// binary, with a PostgreSQL as a plain local install has it: password
// authentication, no SSL, a DATABASE_URL without sslmode (which psql reaches
// with its default, prefer). Every failure no retry can fix exits 2 with a
// JSON record that names the fix, and the password never shows.
func TestYourOwnDatabase(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	srv := pgtest.NewPasswordServer(t)
	env := []string{"DATABASE_URL=" + srv.URL, "RECONCILER_LOG_FORMAT=json"}
	noPassword := func(what, out string) {
		t.Helper()
		if strings.Contains(out, srv.Password) {
			t.Errorf("%s: the password is printed:\n%s", what, out)
		}
	}

	// An empty database: the schema is checked at start, not met as a raw
	// `relation "reconciler_watermarks" does not exist` half-way.
	code, _, stderr := exe(t, bin, env, "run", "--dry-run")
	wayOut(t, "run on an empty database", code, stderr, exitUsage, "connects-reconciler migrate")
	noPassword("run on an empty database", stderr)

	// A database owner who may not create roles: migrate says what it needs.
	code, _, stderr = exe(t, bin, env, "migrate", "--with-marketplace")
	wayOut(t, "migrate without CREATEROLE", code, stderr, exitUsage, "permission denied to create role", "CREATEROLE")
	admin := sqlx.MustOpen("postgres", srv.AdminURL)
	admin.MustExec("ALTER ROLE " + srv.User + " CREATEROLE")
	admin.Close()

	code, _, stderr = exe(t, bin, env, "migrate", "--with-marketplace")
	if code != exitOK {
		t.Fatalf("migrate with a URL without sslmode against a server without SSL: exit %d\n%s", code, stderr)
	}
	code, stdout, stderr := exe(t, bin, env, "migrate", "status")
	if code != exitOK || !strings.Contains(stdout, "migrations/00001_runs.sql") || !strings.Contains(stdout, "up to date") ||
		strings.Contains(stdout, "pending") {
		t.Errorf("migrate status: exit %d, want every migration applied:\n%s%s", code, stdout, stderr)
	}
	if code, _, stderr = exe(t, bin, env, "seed", "--proposals", "300"); code != exitOK {
		t.Fatalf("seed: exit %d\n%s", code, stderr)
	}
	if code, _, stderr = exe(t, bin, env, "run"); code != exitOK {
		t.Fatalf("run: exit %d\n%s", code, stderr)
	}
	out := filepath.Join(t.TempDir(), "refunds.csv")
	today := time.Now().UTC()
	code, _, stderr = exe(t, bin, env, "export", "--from", today.AddDate(0, 0, -1).Format(time.DateOnly),
		"--to", today.AddDate(0, 0, 1).Format(time.DateOnly), "--out", out)
	if code != exitOK {
		t.Fatalf("export: exit %d\n%s", code, stderr)
	}
	if b, err := os.ReadFile(out); err != nil || bytes.Count(b, []byte("\n")) < 2 {
		t.Errorf("export wrote %d bytes (%v); want the refunds the run wrote", len(b), err)
	}
	noPassword("the first export", stderr)

	t.Run("wrong password", func(t *testing.T) {
		wrong := strings.Replace(srv.URL, srv.Password, "not-"+srv.Password[3:], 1)
		code, stdout, stderr := exe(t, bin, []string{"DATABASE_URL=" + wrong, "RECONCILER_LOG_FORMAT=json"}, "run")
		wayOut(t, "wrong password", code, stderr, exitUsage, "password authentication failed", "check the user and password in DATABASE_URL")
		if strings.Contains(stdout+stderr, srv.Password[3:]) {
			t.Errorf("a password is printed:\n%s", stderr)
		}
	})
	t.Run("sslmode=require against a server without SSL", func(t *testing.T) {
		code, _, stderr := exe(t, bin, []string{"DATABASE_URL=" + srv.URL + "?sslmode=require", "RECONCILER_LOG_FORMAT=json"}, "run")
		wayOut(t, "sslmode=require", code, stderr, exitUsage, "SSL is not enabled on the server", "sslmode=disable")
		noPassword("sslmode=require", stderr)
	})
	t.Run("schema behind the binary", func(t *testing.T) {
		db := sqlx.MustOpen("postgres", srv.URL+"?sslmode=disable")
		defer db.Close()
		var latest int64
		if err := db.Get(&latest, `SELECT max(version_id) FROM reconciler_schema_versions`); err != nil {
			t.Fatal(err)
		}
		db.MustExec(`UPDATE reconciler_schema_versions SET is_applied = false WHERE version_id = $1`, latest)
		defer db.MustExec(`UPDATE reconciler_schema_versions SET is_applied = true WHERE version_id = $1`, latest)
		code, _, stderr := exe(t, bin, env, "run")
		wayOut(t, "schema behind", code, stderr, exitUsage, "this build needs", "connects-reconciler migrate")
		code, stdout, _ := exe(t, bin, env, "migrate", "status")
		if code != exitOK || !strings.Contains(stdout, "pending") {
			t.Errorf("migrate status with a migration not applied: exit %d, want it pending:\n%s", code, stdout)
		}
	})
}

// TestEveryWayOutIsJSON: under log_format=json every way a command can end
// in failure is a JSON record at level error with its exit code, whatever
// stopped it: the command line, the configuration, the database.
func TestEveryWayOutIsJSON(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	url, _ := smallMarket(t)
	dir := t.TempDir()
	cases := []struct {
		name string
		env  []string
		args []string
		code int
		says string
	}{
		{"no command", nil, nil, exitUsage, "no command given"},
		{"unknown command", nil, []string{"sweep"}, exitUsage, `unknown command "sweep"`},
		{"unknown flag", []string{"DATABASE_URL=" + url}, []string{"run", "--dry-rn"}, exitUsage, "did you mean --dry-run?"},
		{"bad configuration", []string{"RECONCILER_MAX_REFUNDS=many"}, []string{"run"}, exitUsage, "RECONCILER_MAX_REFUNDS"},
		{"unreachable database", []string{"DATABASE_URL=postgres://app:pw@127.0.0.1:1/x?sslmode=disable"}, []string{"run"}, exitFailed, "connection refused"},
		{"over a safety limit", []string{"DATABASE_URL=" + url}, []string{"run", "--dry-run", "--max-refunds", "1"}, exitRefused, "max-refunds 1"},
		{"--out names a folder", []string{"DATABASE_URL=" + url}, []string{"export", "--from", "2026-01-01", "--to", "2026-02-01", "--out", dir}, exitUsage, "is a folder"},
		{"unknown proposal", []string{"DATABASE_URL=" + url}, []string{"explain", "--proposal", "999"}, exitUsage, "no proposal 999"},
	}
	for _, c := range cases {
		// The format asked for by flag, by environment, and by default off
		// a terminal (auto).
		for _, how := range []string{"flag", "env", "auto"} {
			env, args := c.env, c.args
			switch how {
			case "flag":
				if len(args) > 0 {
					args = append(append([]string{}, args...), "--log-format", "json")
				}
			case "env":
				env = append(append([]string{}, env...), "RECONCILER_LOG_FORMAT=json")
			}
			code, _, stderr := exe(t, bin, env, args...)
			wayOut(t, c.name+" ("+how+")", code, stderr, c.code, c.says)
		}
	}
	// A console log stays a console log: the way out is one plain line.
	code, _, stderr := exe(t, bin, []string{"DATABASE_URL=" + url, "RECONCILER_LOG_FORMAT=console"}, "explain", "--proposal", "999")
	if code != exitUsage || !strings.HasSuffix(stderr, "connects-reconciler: explain: there is no proposal 999\n") {
		t.Errorf("console: exit %d, want %d and a plain last line:\n%s", code, exitUsage, stderr)
	}
}

// TestInterruptedSaysSo sends SIGINT to a real process while its statement
// waits on a lock: it exits 1 and says it was interrupted, not what the
// driver said about the cancelled statement.
func TestInterruptedSaysSo(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	url, db := smallMarket(t)
	holder, err := db.BeginTxx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	holder.MustExec(`LOCK TABLE connects_ledger IN ACCESS EXCLUSIVE MODE`)
	var dbName string
	if err := db.Get(&dbName, `SELECT current_database()`); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, bin, []string{"DATABASE_URL=" + url, "RECONCILER_LOG_FORMAT=json"}, "run", "--dry-run")
	waitFor(t, 60*time.Second, "the dry run to wait for the ledger", func() bool {
		if !p.running() {
			t.Fatalf("the dry run ended before it waited:\n%s", p.errOut.String())
		}
		var waiting int
		_ = db.Get(&waiting, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'`, dbName)
		return waiting > 0
	})
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	code := p.wait(t, 60*time.Second)
	stderr := p.errOut.String()
	wayOut(t, "SIGINT", code, stderr, exitFailed, "interrupted by SIGINT")
	if strings.Contains(stderr, "canceling statement due to user request") {
		t.Errorf("SIGINT reported as the driver's message:\n%s", stderr)
	}
}

// TestCommandsTakeOnlyTheirSettings: export and report take the policy and
// the price (they read records, they plan nothing), and refuse (exit 2) what
// only a run reads; -h lists only what the command takes.
func TestCommandsTakeOnlyTheirSettings(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	env := []string{"DATABASE_URL=postgres://x@127.0.0.1:1/x", "RECONCILER_LOG_FORMAT=json"}
	runOnly := []string{"--shard", "--full", "--apply-batch-size", "--lookback", "--shard-count", "--max-refunds", "--max-connects",
		"--batch-size", "--parallel", "--retries", "--max-replica-lag", "--pushgateway-url", "--schedule", "--time-zone", "--listen-address"}
	values := map[string]string{"--shard": "0/2", "--full": "true", "--pushgateway-url": "http://pg:9091", "--schedule": "@hourly",
		"--time-zone": "UTC", "--listen-address": ":9090", "--lookback": "1h", "--max-replica-lag": "1h"}
	for _, command := range [][]string{
		{"export", "--from", "2026-01-01", "--to", "2026-02-01"},
		{"report", "--from", "2026-01-01", "--to", "2026-02-01"},
	} {
		_, _, help := exe(t, bin, env, command[0], "-h")
		for _, f := range runOnly {
			if listsFlag(help, strings.TrimPrefix(f, "--")) {
				t.Errorf("%s -h lists %s, a setting it does not read", command[0], f)
			}
			v := values[f]
			if v == "" {
				v = "10"
			}
			code, _, stderr := exe(t, bin, env, append(append([]string{}, command...), f+"="+v)...)
			wayOut(t, command[0]+" "+f, code, stderr, exitUsage, "flag provided but not defined: -"+strings.TrimPrefix(f, "--"))
		}
		for _, f := range []string{"settle-delay", "price-per-connect", "replica-database-url", "statement-timeout"} {
			if !listsFlag(help, f) {
				t.Errorf("%s -h does not list --%s, which it reads", command[0], f)
			}
		}
	}
	_, _, help := exe(t, bin, env, "run", "-h")
	for _, f := range []string{"shard", "full", "apply-batch-size", "max-refunds", "batch-size"} {
		if !listsFlag(help, f) {
			t.Errorf("run -h does not list --%s", f)
		}
	}
}

// listsFlag tells whether a -h page lists the flag.
func listsFlag(help, name string) bool {
	return strings.Contains(help, "\n  -"+name+" ") || strings.Contains(help, "\n  -"+name+"\n")
}

// TestRefusedBeforeWork: what a command can tell is wrong from its command
// line and environment it refuses at once, exit 2, naming it.
func TestRefusedBeforeWork(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	url, _ := smallMarket(t)
	env := []string{"DATABASE_URL=" + url, "RECONCILER_LOG_FORMAT=json"}
	period := []string{"--from", "2026-01-01", "--to", "2026-02-01"}

	t.Run("schedules that do not mean what they say", func(t *testing.T) {
		for spec, says := range map[string]string{
			"*/61 * * * *": "a step of 61 in the minute field", "0 */25 * * *": "a step of 25 in the hour field",
			"@every 0s": "@every 0s: must be at least 1s", "@every 10ms": "must be at least 1s",
		} {
			code, _, stderr := exe(t, bin, env, "schedule", "--schedule", spec, "--listen-address", "127.0.0.1:0")
			wayOut(t, "--schedule "+spec, code, stderr, exitUsage, says)
		}
	})
	t.Run("--out", func(t *testing.T) {
		dir := t.TempDir()
		code, _, stderr := exe(t, bin, env, append([]string{"export", "--out", dir}, period...)...)
		wayOut(t, "export --out DIR", code, stderr, exitUsage, dir+" is a folder: name a file in it")
		code, _, stderr = exe(t, bin, env, append([]string{"report", "--out", dir}, period...)...)
		wayOut(t, "report --out DIR", code, stderr, exitUsage, "is a folder")
		code, _, stderr = exe(t, bin, env, "run", "--dry-run", "--plan-out", dir)
		wayOut(t, "run --plan-out DIR", code, stderr, exitUsage, "is a folder")
		missing := filepath.Join(dir, "no-such-folder", "refunds.csv")
		code, _, stderr = exe(t, bin, env, append([]string{"export", "--out", missing}, period...)...)
		wayOut(t, "export --out in a missing folder", code, stderr, exitUsage, "does not exist")
		// A folder this user may not write: root may write any folder but
		// sysfs's.
		locked := filepath.Join(dir, "locked")
		if err := os.Mkdir(locked, 0o555); err != nil {
			t.Fatal(err)
		}
		if os.Geteuid() == 0 {
			locked = "/sys"
		}
		code, _, stderr = exe(t, bin, env, append([]string{"export", "--out", filepath.Join(locked, "refunds.csv")}, period...)...)
		wayOut(t, "export --out in a folder not writable", code, stderr, exitUsage, "may not be written")
	})
	t.Run("explain", func(t *testing.T) {
		code, stdout, stderr := exe(t, bin, env, "explain", "--proposal", "20", "--freelancer", "100")
		if code != exitOK || !strings.Contains(stdout, "Proposal 20 by freelancer 100") {
			t.Errorf("explain --proposal 20 --freelancer 100: exit %d, want proposal 20 explained:\n%s%s", code, stdout, stderr)
		}
		code, _, stderr = exe(t, bin, env, "explain", "--proposal", "20", "--freelancer", "101")
		wayOut(t, "a proposal of another freelancer", code, stderr, exitUsage, "proposal 20 is freelancer 100's, not freelancer 101's")
		code, _, stderr = exe(t, bin, env, "explain", "--freelancer", "999")
		wayOut(t, "unknown freelancer", code, stderr, exitUsage, "freelancer 999 has no proposals")
		code, _, stderr = exe(t, bin, env, "explain", "--proposal", "999")
		wayOut(t, "unknown proposal", code, stderr, exitUsage, "there is no proposal 999")
	})
	t.Run("unknown RECONCILER_ variables are warned about", func(t *testing.T) {
		code, _, stderr := exe(t, bin, append(env, "RECONCILER_MAX_REFUND=5", "RECONCILER_SHARD=0/2"), "run", "--dry-run")
		if code != exitOK {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
		var warned []string
		for _, r := range jsonRecords(t, "warnings", stderr) {
			if r["level"] == "warn" {
				warned = append(warned, r["msg"].(string))
			}
		}
		want := "unknown environment variable RECONCILER_MAX_REFUND ignored: no setting has that name (did you mean RECONCILER_MAX_REFUNDS?)"
		if len(warned) != 1 || warned[0] != want {
			t.Errorf("warnings %q; want one: %q (RECONCILER_SHARD is a setting)", warned, want)
		}
	})
}

// TestVersion: --version says which build it is, and so do the metrics of
// the schedule command it serves.
func TestVersion(t *testing.T) {
	t.Parallel()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "connects-reconciler")
	build := exec.Command(goBin, "build", "-ldflags", "-X github.com/connects/connects-reconciler/internal/version.version=v9.8.7-test "+
		"-X github.com/connects/connects-reconciler/internal/version.revision=abc123", "-buildvcs=false", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	code, stdout, _ := exe(t, bin, nil, "--version")
	if code != exitOK || !strings.HasPrefix(stdout, "connects-reconciler v9.8.7-test (revision abc123, go") {
		t.Errorf("--version: exit %d, %q", code, stdout)
	}
	url, _ := smallMarket(t)
	addr := freeAddr(t)
	p := startProc(t, bin, []string{"DATABASE_URL=" + url}, "schedule", "--schedule", "@hourly", "--listen-address", addr)
	defer func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		p.wait(t, 60*time.Second)
	}()
	waitFor(t, 30*time.Second, "/metrics", func() bool {
		code, _ := httpGet("http://" + addr + "/healthz")
		return code == 200
	})
	families := promScrape(t, "http://"+addr+"/metrics")
	if v, ok := promSample(families, "connects_reconciler_build_info", promLabels("version", "v9.8.7-test", "revision", "abc123")); !ok || v != 1 {
		t.Errorf("connects_reconciler_build_info{version=\"v9.8.7-test\"}: got %v (found %v), want 1", v, ok)
	}
}
