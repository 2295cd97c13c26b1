package main

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/jmoiron/sqlx"
	"github.com/rs/zerolog"
	"go.uber.org/zap"

	"github.com/connects/connects-reconciler/reconcile/postgres/pgtest"
	"github.com/connects/connects-reconciler/synth"
)

// stallProxy seeds a marketplace and puts a toxiproxy in front of it; it
// returns the proxy, the URL through it and an administrative pool that
// goes around it.
func stallProxy(t *testing.T, proposals int64) (*toxiproxy.Proxy, string, *sqlx.DB) {
	t.Helper()
	src := pgtest.NewURL(t)
	db := sqlx.MustOpen("postgres", src)
	t.Cleanup(func() { db.Close() })
	if _, err := synth.Seed(context.Background(), db, synth.SeedOptions{Seed: 5, Proposals: proposals,
		Anchor: time.Now().UTC().Add(-time.Hour), MissingPercent: 60}, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(src)
	px := toxiproxy.NewProxy(toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop()), "pg", "127.0.0.1:0", u.Host)
	if err := px.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(px.Stop)
	u.Host = px.Listen
	return px, u.String(), db
}

// stall makes the proxy stop passing data both ways while keeping every
// connection open (toxiproxy's timeout toxic with no timeout): the client's
// kernel still sees a live peer, so only the job's own deadlines notice.
func stall(t *testing.T, px *toxiproxy.Proxy) func() {
	t.Helper()
	for _, stream := range []string{"upstream", "downstream"} {
		if _, err := px.Toxics.AddToxicJson(strings.NewReader(`{"name": "stall-` + stream + `", "type": "timeout", "stream": "` + stream + `", "attributes": {"timeout": 0}}`)); err != nil {
			t.Fatal(err)
		}
	}
	return func() {
		for _, stream := range []string{"upstream", "downstream"} {
			_ = px.Toxics.RemoveToxic(context.Background(), "stall-"+stream)
		}
	}
}

// A connection that stays open but passes no data, through the real binary:
// with stall_timeout 2s, a run stalled in the middle of its apply batches
// exits 1 within the bound (times its attempts), having written nothing
// twice; once the proxy passes data again the next run completes the work.
// A schedule process stalled the same way goes on ticking and succeeds once
// the data flows.
func TestStalledConnection(t *testing.T) {
	t.Parallel()
	built := buildBinaryAsync(t)
	px, through, db := stallProxy(t, 3000)
	bin := built()
	const bound = 2 * time.Second
	args := []string{"run", "--settle-delay", "0s", "--apply-batch-size", "2", "--retries", "1", "--retry-backoff", "10ms",
		"--statement-timeout", "1s", "--stall-timeout", bound.String(), "--format", "json", "--log-format", "json"}
	env := []string{"DATABASE_URL=" + through}

	p := startProc(t, bin, env, args...)
	waitFor(t, time.Minute, "the run to apply a batch", func() bool {
		var n int
		_ = db.Get(&n, `SELECT count(*) FROM reconciler_refunds`)
		return n > 0 || !p.running()
	})
	if !p.running() {
		t.Fatalf("the run ended before the stall:\n%s", p.errOut.String())
	}
	unstall := stall(t, px)
	stalled := time.Now()
	code := p.wait(t, time.Minute)
	took := time.Since(stalled)
	unstall()
	// Two attempts of the batch (retries 1), each failing within the bound,
	// then recording the failure, which fails within the bound too.
	if limit := 4*bound + 2*time.Second; code != exitFailed || took > limit {
		t.Fatalf("stalled run: exit %d after %s; want %d within %s\n%s", code, took.Round(time.Millisecond), exitFailed, limit, p.errOut.String())
	}
	if !strings.Contains(p.errOut.String(), "i/o timeout") {
		t.Errorf("the stalled run does not say it timed out:\n%s", p.errOut.String())
	}
	t.Logf("stalled run: exit %d %s after the stall (stall_timeout %s)", code, took.Round(time.Millisecond), bound)
	checkLedger(t, db, "after the stalled run")

	// The stalled run's lock session can outlive it on the server until the
	// proxy closes it: meanwhile a run is skipped; then one does the work.
	deadline := time.Now().Add(30 * time.Second)
	next, skips := time.Now(), 0
	for {
		p := startProc(t, bin, env, args...)
		code := p.wait(t, time.Minute)
		if code == exitOK && lockSkipped(p.errOut.String()) && time.Now().Before(deadline) {
			skips++
			time.Sleep(200 * time.Millisecond)
			continue
		}
		t.Logf("next run: exit %d after %d skipped for the lock, %s", code, skips, time.Since(next).Round(time.Millisecond))
		if code != exitOK {
			t.Fatalf("next run: exit %d\n%s", code, p.errOut.String())
		}
		break
	}
	checkLedger(t, db, "after the next run")
	var owed int
	_ = db.Get(&owed, `SELECT count(*) FROM reconciler_runs WHERE status = 'succeeded'`)
	if owed != 1 {
		t.Errorf("succeeded runs: %d, want 1", owed)
	}
	p2 := startProc(t, bin, env, "run", "--dry-run", "--settle-delay", "0s", "--format", "json")
	if code := p2.wait(t, time.Minute); code != exitOK || !strings.Contains(p2.out.String(), `"refunds": []`) {
		t.Errorf("after the next run a dry run still plans refunds: exit %d\n%s", code, p2.out.String())
	}

	t.Run("schedule goes on ticking", func(t *testing.T) {
		// Every second; the first ticks stall, fail within the bound and are
		// recorded; once the data flows a tick succeeds.
		addr := freeAddr(t)
		unstall := stall(t, px)
		p := startProc(t, bin, env, "schedule", "--schedule", "@every 1s", "--listen-address", addr,
			"--settle-delay", "0s", "--retries", "0", "--statement-timeout", "1s", "--stall-timeout", bound.String(), "--log-format", "json")
		defer func() {
			if p.running() {
				_ = p.cmd.Process.Kill()
			}
		}()
		waitFor(t, time.Minute, "a tick to fail on the stalled connection", func() bool {
			return strings.Contains(p.errOut.String(), "i/o timeout") || !p.running()
		})
		if !p.running() {
			t.Fatalf("schedule ended on a stalled connection:\n%s", p.errOut.String())
		}
		unstall()
		waitFor(t, time.Minute, "a tick to succeed once the data flows", func() bool {
			return strings.Contains(p.errOut.String(), `"status":"succeeded"`) || !p.running()
		})
		if !p.running() {
			t.Fatalf("schedule ended:\n%s", p.errOut.String())
		}
	})
}
