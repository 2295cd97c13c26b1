package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/connects/connects-reconciler/config"
	"github.com/connects/connects-reconciler/internal/pgbin"
	"github.com/jmoiron/sqlx"
	"go.uber.org/zap"

	"github.com/connects/connects-reconciler/reconcile/postgres"
)

// Replicated is a PostgreSQL cluster of its own with a hot standby streaming
// from it, both on loopback ports, in a temporary directory.
//
// It is a dedicated cluster rather than a standby of the shared test server:
// pg_basebackup copies every database of a cluster, and the shared one holds
// a database per running test of every package; a small cluster of its own
// takes seconds to copy, needs no change to the shared server's pg_hba.conf
// (initdb's own file trusts replication from 127.0.0.1), and cannot be
// disturbed by, or disturb, other tests when a test pauses or stops its
// replay.
type Replicated struct {
	t testing.TB
	// PrimaryURL and StandbyURL point at the database "reconciler", migrated
	// with the marketplace, on the primary and on the standby.
	PrimaryURL, StandbyURL string
	// Primary and Standby are pools on them, closed at the test's end.
	Primary, Standby *sqlx.DB

	bin, dir, owner string
	primaryData     string
	standbyData     string
}

// NewReplicated starts a primary and its hot standby, migrates a database on
// the primary and waits until the standby has it. Everything is stopped and
// removed when the test ends. Where the standby cannot be started, the test
// fails with the reason: it never skips.
func NewReplicated(t testing.TB) *Replicated {
	t.Helper()
	r := &Replicated{t: t}
	var err error
	if r.bin, err = pgbin.Dir("initdb", "pg_ctl", "pg_basebackup"); err != nil {
		t.Fatalf("pgtest: a hot standby needs the PostgreSQL server binaries: %v", err)
	}
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root: the cluster belongs to postgres.
		if _, err := user.Lookup("postgres"); err != nil {
			t.Fatalf("pgtest: running as root, a hot standby needs the OS user postgres to own it: %v", err)
		}
		r.owner = "postgres"
	}
	if r.dir, err = os.MkdirTemp("", "crstandby-"); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(r.cleanup)
	r.chown(r.dir)
	r.primaryData = filepath.Join(r.dir, "primary")
	r.standbyData = filepath.Join(r.dir, "standby")

	r.as("initdb", "-D", r.primaryData, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync")
	primaryPort := freePort(t)
	r.appendConf(r.primaryData, map[string]string{
		"port": strconv.Itoa(primaryPort), "listen_addresses": "'127.0.0.1'", "unix_socket_directories": "'" + r.dir + "'",
		"wal_level": "replica", "max_wal_senders": "4", "fsync": "off", "synchronous_commit": "off",
		"full_page_writes": "off", "shared_buffers": "32MB", "max_connections": "40", "wal_keep_size": "256MB",
	})
	r.as("pg_ctl", "-D", r.primaryData, "-l", filepath.Join(r.dir, "primary.log"), "-w", "-t", "60", "start")
	admin := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", primaryPort)
	r.PrimaryURL = withDatabase(admin, "reconciler")
	adminDB := r.open(admin)
	if _, err := adminDB.Exec("CREATE DATABASE reconciler"); err != nil {
		t.Fatalf("pgtest: create database on the primary: %v", err)
	}
	adminDB.Close()
	r.Primary = r.open(r.PrimaryURL)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := postgres.Migrate(ctx, r.Primary, true, zap.NewNop()); err != nil {
		t.Fatalf("pgtest: migrate the primary: %v", err)
	}

	r.as("pg_basebackup", "-D", r.standbyData, "-R", "-X", "stream", "-c", "fast", "--no-sync",
		"-h", "127.0.0.1", "-p", strconv.Itoa(primaryPort), "-U", "postgres")
	standbyPort := freePort(t)
	r.appendConf(r.standbyData, map[string]string{
		"port": strconv.Itoa(standbyPort), "hot_standby": "on", "hot_standby_feedback": "on",
	})
	r.StartStandby()
	r.StandbyURL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/reconciler?sslmode=disable", standbyPort)
	r.Standby = r.open(r.StandbyURL)
	if err := postgres.CheckStandby(ctx, r.Standby); err != nil {
		t.Fatalf("pgtest: the standby on port %d: %v", standbyPort, err)
	}
	r.CatchUp()
	return r
}

// StartStandby starts the standby (again).
func (r *Replicated) StartStandby() {
	r.t.Helper()
	r.as("pg_ctl", "-D", r.standbyData, "-l", filepath.Join(r.dir, "standby.log"), "-w", "-t", "60", "start")
}

// StopStandby stops the standby at once, as a crash would.
func (r *Replicated) StopStandby() {
	r.t.Helper()
	r.as("pg_ctl", "-D", r.standbyData, "-m", "immediate", "-w", "stop")
}

// CatchUp waits until the standby has replayed everything the primary has
// written so far (what there is to replay, as runs compare it: after a WAL
// segment switch, the insert position is past the new segment's header).
func (r *Replicated) CatchUp() {
	r.t.Helper()
	lsn, err := postgres.PrimaryPosition(context.Background(), r.Primary)
	if err != nil {
		r.t.Fatalf("pgtest: primary WAL position: %v", err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		var done bool
		err := r.Standby.Get(&done, "SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false)", lsn)
		if err == nil && done {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("pgtest: the standby did not replay up to %s within a minute (err %v); log:\n%s", lsn, err, r.log("standby.log"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// PauseReplay pauses the standby's replay and waits until it is paused.
func (r *Replicated) PauseReplay() {
	r.t.Helper()
	if _, err := r.Standby.Exec("SELECT pg_wal_replay_pause()"); err != nil {
		r.t.Fatalf("pgtest: pause replay: %v", err)
	}
	for i := 0; ; i++ {
		var state string
		if err := r.Standby.Get(&state, "SELECT pg_get_wal_replay_pause_state()"); err != nil {
			r.t.Fatalf("pgtest: replay pause state: %v", err)
		}
		if state == "paused" {
			return
		}
		if i > 1000 {
			r.t.Fatalf("pgtest: replay still %q after 10s", state)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ResumeReplay resumes the standby's replay.
func (r *Replicated) ResumeReplay() {
	r.t.Helper()
	if _, err := r.Standby.Exec("SELECT pg_wal_replay_resume()"); err != nil {
		r.t.Fatalf("pgtest: resume replay: %v", err)
	}
}

func (r *Replicated) open(url string) *sqlx.DB {
	r.t.Helper()
	db, err := sqlx.Open("postgres", url)
	if err != nil {
		r.t.Fatalf("pgtest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		if err = db.PingContext(ctx); err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		r.t.Fatalf("pgtest: connect to %s: %v", config.Redact(url), err)
	}
	r.t.Cleanup(func() { db.Close() })
	return db
}

// as runs a server binary, as the cluster's owner when running as root.
func (r *Replicated) as(name string, args ...string) {
	r.t.Helper()
	path := filepath.Join(r.bin, name)
	var cmd *exec.Cmd
	if r.owner != "" {
		cmd = exec.Command("runuser", append([]string{"-u", r.owner, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = r.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("pgtest: %s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, r.log("primary.log")+r.log("standby.log"))
	}
}

func (r *Replicated) log(name string) string {
	b, err := os.ReadFile(filepath.Join(r.dir, name))
	if err != nil {
		return ""
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return "--- " + name + " ---\n" + string(b)
}

func (r *Replicated) appendConf(data string, settings map[string]string) {
	r.t.Helper()
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("\n# pgtest.NewReplicated\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s = %s\n", k, settings[k])
	}
	f, err := os.OpenFile(filepath.Join(data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		r.t.Fatalf("pgtest: %v", err)
	}
	defer f.Close()
	if _, err := f.WriteString(b.String()); err != nil {
		r.t.Fatalf("pgtest: %v", err)
	}
}

func (r *Replicated) chown(path string) {
	r.t.Helper()
	if r.owner == "" {
		return
	}
	u, err := user.Lookup(r.owner)
	if err != nil {
		r.t.Fatalf("pgtest: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(path, uid, gid); err != nil {
		r.t.Fatalf("pgtest: chown %s: %v", path, err)
	}
}

// cleanup stops both servers and removes the directory.
func (r *Replicated) cleanup() {
	for _, data := range []string{r.standbyData, r.primaryData} {
		if _, err := os.Stat(filepath.Join(data, "postmaster.pid")); err != nil {
			continue
		}
		path := filepath.Join(r.bin, "pg_ctl")
		args := []string{"-D", data, "-m", "immediate", "-w", "stop"}
		cmd := exec.Command(path, args...)
		if r.owner != "" {
			cmd = exec.Command("runuser", append([]string{"-u", r.owner, "--", path}, args...)...)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			r.t.Logf("pgtest: stop %s: %v\n%s", data, err, out)
		}
	}
	if err := os.RemoveAll(r.dir); err != nil {
		r.t.Logf("pgtest: remove %s: %v", r.dir, err)
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pgtest: free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
