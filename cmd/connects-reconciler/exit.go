package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"go.uber.org/zap"

	"github.com/connects/connects-reconciler/cmd/connects-reconciler/internal/service"
	"github.com/connects/connects-reconciler/config"
)

// invocation is one execution of the program: its environment, and the
// logger the command built, so that the way out is logged in the same
// format as everything before it.
type invocation struct {
	environ []string
	log     *zap.Logger
	format  string // the logger's resolved format: console or json
}

type invocationKey struct{}

// invocationOf returns the invocation ctx carries, or nil (tests that call
// run directly).
func invocationOf(ctx context.Context) *invocation {
	inv, _ := ctx.Value(invocationKey{}).(*invocation)
	return inv
}

// interrupted is the cause of the context's end when a signal stopped the
// program.
type interrupted struct{ sig os.Signal }

func (i interrupted) Error() string { return "interrupted by " + signalName(i.sig) }

func signalName(s os.Signal) string {
	if s == os.Interrupt {
		return "SIGINT"
	}
	return strings.ToUpper("sig" + strings.TrimPrefix(s.String(), "sig"))
}

// interruptedError is what a command that a signal stopped reports: the
// signal, not what the driver said when its statement was cancelled.
type interruptedError struct {
	cause interrupted
	err   error // what the command returned, kept for errors.Is/As
}

func (e interruptedError) Error() string {
	return e.cause.Error() + "; what was committed before it stands, the next run completes the work"
}

func (e interruptedError) Unwrap() error { return e.err }

// program is the whole process but for os.Exit: it runs the command, then
// reports how it ended (in the command's log format: under log_format=json
// a JSON record at level error, so that log pipelines see why a pod
// failed) and returns the exit code.
func program(ctx context.Context, args []string, environ []string, stdout, stderr io.Writer) (code int) {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	getenv := func(k string) string { return env[k] }
	inv := &invocation{environ: environ}
	ctx = context.WithValue(ctx, invocationKey{}, inv)
	var err error
	func() {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("internal error (a bug, please report it): %v\n%s", p, debug.Stack())
			}
		}()
		err = run(ctx, args, getenv, stdout, stderr)
	}()
	var sig interrupted
	if err != nil && ctx.Err() != nil && errors.As(context.Cause(ctx), &sig) && !errors.Is(err, errHelp) {
		err = interruptedError{cause: sig, err: err}
	}
	code = exitCode(err)
	if err == nil || errors.Is(err, errHelp) {
		return code
	}
	log, format := inv.log, inv.format
	if log == nil {
		// No command got as far as its logger (no command, an unknown one):
		// the format still comes from the environment.
		lc := config.Log{Level: "info", Format: "auto"}
		if f := getenv(config.EnvPrefix + "LOG_FORMAT"); f == "json" || f == "console" {
			lc.Format = f
		}
		log, format = service.NewLogger(lc, stderr, getenv), service.LogFormat(lc, stderr)
	}
	if format == "json" {
		log.Error(err.Error(), zap.Int("exit_code", code))
		_ = log.Sync()
	} else {
		if errors.As(err, new(commandError)) {
			fmt.Fprint(stderr, usage)
		}
		fmt.Fprintln(stderr, "connects-reconciler:", err)
	}
	return code
}
