package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/connects/connects-reconciler/reconcile/postgres/pgtest"
)

// schedule starts and serves while its database is not there (a closed port,
// a database not created yet): /healthz 200, /readyz 503, ticks fail and are
// recorded failed; once the database answers, /readyz turns 200 and a run
// succeeds. Real processes.
func TestScheduleStartsWithoutDatabase(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	ready := func(addr string) int { code, _ := httpGet("http://" + addr + "/readyz"); return code }
	healthy := func(addr string) int { code, _ := httpGet("http://" + addr + "/healthz"); return code }
	start := func(t *testing.T, dsn string) (*proc, string) {
		addr := freeAddr(t)
		p := startProc(t, bin, []string{"DATABASE_URL=" + dsn}, "schedule", "--schedule", "@every 1s",
			"--listen-address", addr, "--connect-timeout", "1s", "--log-format", "json")
		t.Cleanup(func() {
			if p.running() {
				_ = p.cmd.Process.Kill()
				<-p.exited
			}
		})
		waitFor(t, 30*time.Second, "the process to serve /healthz", func() bool { return healthy(addr) == 200 || !p.running() })
		if !p.running() {
			t.Fatalf("schedule exited with the database down:\n%s", p.errOut.String())
		}
		return p, addr
	}

	t.Run("closed port", func(t *testing.T) {
		t.Parallel()
		p, addr := start(t, "postgres://app:pw@"+freeAddr(t)+"/db?sslmode=disable")
		if code := ready(addr); code != 503 {
			t.Errorf("/readyz with the database down: %d, want 503", code)
		}
		waitFor(t, 30*time.Second, "a tick to fail", func() bool { return strings.Contains(p.errOut.String(), "database not reachable: ") })
		metrics := func() string { _, body := httpGet("http://" + addr + "/metrics"); return body }
		if m := metrics(); !strings.Contains(m, `connects_reconciler_last_run_status{status="failed",sweep="incremental"} 1`) {
			t.Errorf("/metrics does not show the failed tick:\n%s", m)
		}
	})

	t.Run("database created later", func(t *testing.T) {
		t.Parallel()
		template := databaseOf(t, pgtest.NewURL(t)) // migrated, with the marketplace's tables, empty
		name := randomName("crtest_later")
		t.Cleanup(func() { _ = adminExec(t, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name)) })
		p, addr := start(t, dbURL(t, name, "postgres", ""))
		if code := ready(addr); code != 503 {
			t.Errorf("/readyz before the database exists: %d, want 503", code)
		}
		waitFor(t, 30*time.Second, "a tick to fail", func() bool { return strings.Contains(p.errOut.String(), "does not exist") })
		var err error
		for try := 0; try < 50; try++ { // the template's last backend may still be leaving
			if err = adminExec(t, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, template)); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, "/readyz 200 once the database exists", func() bool { return ready(addr) == 200 })
		waitFor(t, 30*time.Second, "a run to succeed", func() bool { return strings.Contains(p.errOut.String(), `"status":"succeeded"`) })
		if !p.running() {
			t.Fatalf("schedule ended:\n%s", p.errOut.String())
		}
	})
}
