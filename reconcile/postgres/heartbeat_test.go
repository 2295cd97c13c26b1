package postgres_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/connects/connects-reconciler/reconcile"
	"github.com/connects/connects-reconciler/reconcile/postgres"
	"github.com/connects/connects-reconciler/reconcile/postgres/pgtest"
)

const holderEnv = "CONNECTS_TEST_LOCK_HOLDER_URL"

// TestLockHolderProcess is the lock holder of TestFrozenLockHolder, run in a
// process of its own so that the test can freeze it (SIGSTOP): it takes the
// run lock with a heartbeat every 200ms and a lock session idle timeout of
// 2s, says "locked", then applies an empty batch for each line "apply" it
// reads and says how that went, until it is killed. Run directly, it does
// nothing.
func TestLockHolderProcess(t *testing.T) {
	url := os.Getenv(holderEnv)
	if url == "" {
		return
	}
	db, err := postgres.Open(context.Background(), url, postgres.Timeouts{Statement: time.Minute, Lock: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	store := postgres.NewStore(db, zap.NewNop())
	postgres.SetHeartbeat(store, 200*time.Millisecond, 2*time.Second)
	if _, err := store.Lock(context.Background(), reconcile.LockKey(reconcile.Shard{})); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("locked\n")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		_, err := store.Apply(context.Background(), "holder", reconcile.DefaultPolicy(), time.Now(), nil, reconcile.ApplyOptions{})
		if err != nil {
			os.Stdout.WriteString("apply: " + strings.ReplaceAll(err.Error(), "\n", " ") + "\n")
		} else {
			os.Stdout.WriteString("apply: ok\n")
		}
	}
	time.Sleep(time.Hour)
}

// TestFrozenLockHolder: a run holding the lock in another process beats its
// heartbeat, which a run that finds the lock taken reads as a small silence;
// once that process is frozen (SIGSTOP: a hung pod, a frozen node, whose
// connection stays open), its silence grows, and the server ends its idle
// session within the lock session's idle timeout, which frees the lock for
// the next run instead of keeping it for the TCP keepalive's two hours.
func TestFrozenLockHolder(t *testing.T) {
	t.Parallel()
	url := pgtest.NewURL(t)
	holder := exec.Command(os.Args[0], "-test.run=^TestLockHolderProcess$", "-test.count=1")
	holder.Env = append(os.Environ(), holderEnv+"="+url)
	holder.Stderr = os.Stderr
	cmdIn, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = holder.Process.Signal(syscall.SIGCONT)
		_ = holder.Process.Kill()
		_ = holder.Wait()
	})
	locked := make(chan bool, 1)
	applied := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "locked" {
				locked <- true
			}
			if rest, ok := strings.CutPrefix(line, "apply: "); ok {
				applied <- rest
			}
		}
	}()
	apply := func() string {
		t.Helper()
		if _, err := cmdIn.Write([]byte("apply\n")); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-applied:
			return got
		case <-time.After(30 * time.Second):
			t.Fatal("the holder did not answer within 30s")
			return ""
		}
	}
	select {
	case <-locked:
	case <-time.After(60 * time.Second):
		t.Fatal("the holder process did not take the lock within 60s")
	}

	ctx := context.Background()
	db, err := postgres.Open(ctx, url, postgres.Timeouts{Statement: time.Minute, Lock: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var keepalive string
	if err := db.GetContext(ctx, &keepalive, "SHOW tcp_keepalives_idle"); err != nil || keepalive != "60" {
		t.Errorf("tcp_keepalives_idle of the job's sessions: got %q (%v), want 60 (seconds)", keepalive, err)
	}
	store := postgres.NewStore(db, zaptest.NewLogger(t))
	key := reconcile.LockKey(reconcile.Shard{})
	if _, err := store.Lock(ctx, key); !errors.Is(err, reconcile.ErrLocked) {
		t.Fatalf("lock while the holder holds it: got %v, want ErrLocked", err)
	}
	// Alive: over 1.5s (several beats), the holder is never silent for
	// more than a beat or two.
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		h, err := store.RunningAge(ctx, reconcile.Shard{})
		if err != nil {
			t.Fatal(err)
		}
		if h.Silent > time.Second {
			t.Fatalf("a live holder silent for %s; want under 1s (a beat every 200ms)", h.Silent)
		}
	}

	if got := apply(); got != "ok" {
		t.Fatalf("the holder's apply while it holds the lock: %s, want ok", got)
	}

	if err := holder.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	frozen := time.Now()
	time.Sleep(1200 * time.Millisecond)
	h, err := store.RunningAge(ctx, reconcile.Shard{})
	if err != nil {
		t.Fatal(err)
	}
	if h.Silent < time.Second {
		t.Errorf("a frozen holder silent for %s after 1.2s; want over 1s", h.Silent)
	}
	// The server ends the frozen holder's idle session (2s) and with it the
	// lock: the next run takes it.
	for {
		release, err := store.Lock(ctx, key)
		if err == nil {
			t.Logf("lock taken %s after the holder froze", time.Since(frozen).Round(time.Millisecond))
			h, err := store.RunningAge(ctx, reconcile.Shard{})
			if err != nil || h.Silent > time.Second {
				t.Errorf("heartbeat after taking the lock: silent %s (%v), want the new holder's fresh beat", h.Silent, err)
			}
			release()
			break
		}
		if !errors.Is(err, reconcile.ErrLocked) {
			t.Fatal(err)
		}
		if time.Since(frozen) > 15*time.Second {
			t.Fatalf("the frozen holder still holds the lock %s after it froze; want it freed by its session's idle timeout (2s)", time.Since(frozen).Round(time.Second))
		}
		time.Sleep(200 * time.Millisecond)
	}
	var rows int
	if err := db.GetContext(ctx, &rows, "SELECT count(*) FROM reconciler_lock_heartbeats"); err != nil || rows != 0 {
		t.Errorf("heartbeats after the release: %d (%v), want none", rows, err)
	}

	// The frozen holder resumes: its next beat finds its session gone, and
	// it writes nothing more (another run may hold the lock now).
	if err := holder.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if got := apply(); !strings.Contains(got, "lost the run lock") {
		t.Errorf("the resumed holder's apply: %s, want it refused: lost the run lock", got)
	}
}
