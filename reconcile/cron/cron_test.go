package cron

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// A tick that comes while the previous one still runs is skipped, and the
// skip is counted where it is decided (not read from cron's log text); the
// run in flight sees the context end and is waited for.
func TestSkipWhileRunning(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3300*time.Millisecond)
	defer cancel()
	var ticks, skipped, inFlight atomic.Int32
	err := Serve(ctx, Options{
		Spec: "@every 1s", Location: time.UTC, ListenAddress: "127.0.0.1:0",
		Tick: func(ctx context.Context) {
			ticks.Add(1)
			inFlight.Add(1)
			defer inFlight.Add(-1)
			select { // longer than the rest of the test: every later tick comes while it runs
			case <-ctx.Done():
			case <-time.After(10 * time.Second):
			}
		},
		Skipped: func() { skipped.Add(1) },
		Ready:   func(context.Context) error { return nil },
		Metrics: http.NotFoundHandler(),
		Log:     zaptest.NewLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := ticks.Load(); got != 1 {
		t.Errorf("ticks run: %d, want 1 (the later ones come while it runs)", got)
	}
	if got := skipped.Load(); got < 1 {
		t.Errorf("skips counted: %d, want at least 1", got)
	}
	if got := inFlight.Load(); got != 0 {
		t.Errorf("Serve returned with %d ticks in flight", got)
	}
}
