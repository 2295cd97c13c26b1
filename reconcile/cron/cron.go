// Package cron is the schedule command's adapter for github.com/robfig/cron:
// it runs a tick on a cron schedule (a panic recovered, a tick skipped while
// the previous one still runs), serves /healthz, /readyz and /metrics, and
// stops cleanly: no new ticks, the tick in flight waited for, then the HTTP
// server shut down. What a tick does is the caller's.
package cron

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"
	"go.uber.org/zap"
)

// Options say when to tick and what to serve.
type Options struct {
	// Spec is five cron fields or a descriptor (@hourly, @every 5m).
	Spec string
	// Location is the time zone Spec is read in.
	Location *time.Location
	// ListenAddress is where /healthz, /readyz and /metrics are served.
	ListenAddress string
	// Tick is one scheduled run; ctx is cancelled on shutdown.
	Tick func(ctx context.Context)
	// Skipped is called when a tick is skipped because the previous one is
	// still running.
	Skipped func()
	// Ready answers /readyz: nil is 200, an error 503.
	Ready func(ctx context.Context) error
	// Metrics serves /metrics.
	Metrics http.Handler
	Log     *zap.Logger
}

// Serve ticks and serves until ctx is done or the server fails. A tick in
// flight when ctx ends sees its context cancelled and is waited for.
func Serve(ctx context.Context, o Options) error {
	ln, err := net.Listen("tcp", o.ListenAddress)
	if err != nil {
		return fmt.Errorf("schedule: listen: %w", err)
	}
	srv := &http.Server{Handler: routes(o), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	l := logger{Log: o.Log.Named("cron")}
	cr := cron.New(cron.WithLocation(o.Location), cron.WithLogger(l), cron.WithChain(cron.Recover(l)))
	if _, err := cr.AddFunc(o.Spec, skipIfRunning(ctx, o, l.Log)); err != nil {
		srv.Close()
		return fmt.Errorf("schedule: %w", err)
	}
	cr.Start()
	o.Log.Info("scheduled", zap.String("schedule", o.Spec), zap.String("time_zone", o.Location.String()),
		zap.String("listen_address", ln.Addr().String()), zap.Time("next_run", cr.Entries()[0].Next))

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
	}
	// Stop taking new ticks; the one in flight sees ctx cancelled. Wait for
	// it, then stop serving.
	o.Log.Info("stopping: no new runs; waiting for the run in flight")
	<-cr.Stop().Done()
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		o.Log.Warn("http shutdown", zap.Error(err))
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("schedule: serve: %w", serveErr)
	}
	return nil
}

// routes serves /healthz (the process answers), /readyz (o.Ready) and
// /metrics.
func routes(o Options) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := o.Ready(ctx); err != nil {
			o.Log.Warn("readiness: database does not answer", zap.Error(err))
			http.Error(w, "database unreachable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", o.Metrics)
	return mux
}

// skipIfRunning is the scheduled job: a tick, unless the previous one is
// still running, which skips it (logged, and counted by o.Skipped). The skip
// is decided here, not read back from cron's log.
func skipIfRunning(ctx context.Context, o Options, log *zap.Logger) func() {
	var running atomic.Bool
	return func() {
		if !running.CompareAndSwap(false, true) {
			log.Warn("tick skipped: the previous run is still going", zap.String("reason", "still_running"))
			if o.Skipped != nil {
				o.Skipped()
			}
			return
		}
		defer running.Store(false)
		o.Tick(ctx)
	}
}

// logger lets cron log through zap: its routine messages at debug.
type logger struct {
	Log *zap.Logger
}

// Info logs cron's routine messages at debug.
func (l logger) Info(msg string, keysAndValues ...any) {
	l.Log.Debug(msg, kvFields(keysAndValues)...)
}

// Error logs cron's errors, a recovered panic among them.
func (l logger) Error(err error, msg string, keysAndValues ...any) {
	l.Log.Error(msg, append(kvFields(keysAndValues), zap.Error(err))...)
}

// kvFields turns cron's alternating keys and values into zap fields.
func kvFields(kv []any) []zap.Field {
	fields := make([]zap.Field, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		key, ok := kv[i].(string)
		if !ok {
			key = fmt.Sprint(kv[i])
		}
		fields = append(fields, zap.Any(key, kv[i+1]))
	}
	return fields
}
