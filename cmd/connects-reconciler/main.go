// Command connects-reconciler finds Connects refunds that a freelance
// marketplace owes but never wrote, and writes them exactly once.
//
// Usage:
//
//	connects-reconciler migrate [--with-marketplace]
//	connects-reconciler run [--dry-run] [--format table|json] [settings]
//	connects-reconciler run --dry-run --plan-out FILE | run --plan FILE [--plan-max-age D]
//	connects-reconciler export --from DATE --to DATE [--kind refunds|summary|discrepancies] [--format csv|json] [--out FILE]
//	connects-reconciler report --from DATE --to DATE --out report.html
//	connects-reconciler explain --proposal ID | --freelancer ID [--format text|json]
//	connects-reconciler seed [--seed N] [--proposals N] [--force]
//	connects-reconciler schedule [--schedule SPEC] [--time-zone TZ] [--listen-address ADDR] [settings]
//	connects-reconciler discrepancies list [--state open|closed|all] [--kind K] [--older-than 7d] [--format table|json]
//	connects-reconciler discrepancies ack --proposal P --component C [--kind K] --note TEXT --by NAME
//
// Exit codes: 0 done (or skipped: another run holds the lock), 1 failed, 2 bad
// usage or configuration, 3 refused by a safety limit, 4 run --plan found the
// lock taken (the reviewed plan was not applied).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/connects/connects-reconciler/cmd/connects-reconciler/internal/service"
	"github.com/connects/connects-reconciler/config"
	"github.com/connects/connects-reconciler/internal/version"
	"github.com/connects/connects-reconciler/reconcile"
)

// Exit codes, documented in the README; schedulers act on them.
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	exitRefused = 3
	exitLocked  = 4
)

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first signal cancels the work, with the signal as the cause
		// that the way out reports; later ones are still caught, so the run
		// can record itself interrupted.
		cancel(interrupted{<-sigs})
	}()
	os.Exit(program(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// usageError is a command line the program cannot understand.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// commandError is a command line without a known command: a person at a
// console gets the list of commands with it.
type commandError struct{ msg string }

func (e commandError) Error() string {
	return e.msg + ` (run "connects-reconciler help" for the commands)`
}

// errHelp is returned after help was printed on request.
var errHelp = errors.New("help requested")

func exitCode(err error) int {
	var usage usageError
	var command commandError
	var cfg *config.Error
	var limit *reconcile.LimitError
	var plan *service.PlanError
	var setup *reconcile.SetupError
	var missing notFound
	var period *reconcile.PeriodError
	switch {
	case err == nil, errors.Is(err, errHelp):
		return exitOK
	case errors.As(err, &usage), errors.As(err, &command), errors.As(err, &cfg), errors.As(err, &plan), errors.As(err, &setup), errors.As(err, &missing):
		return exitUsage
	case errors.As(err, &period) && !period.Later:
		return exitUsage
	case errors.As(err, &limit):
		return exitRefused
	case errors.Is(err, reconcile.ErrLocked):
		return exitLocked
	default:
		return exitFailed
	}
}

const usage = `connects-reconciler issues missing Connects refunds, exactly once.

Commands:
  migrate   apply the job's schema (--with-marketplace: also the contract's tables)
  run       plan and write missing refunds (--dry-run: report only;
            --dry-run --plan-out FILE saves a plan for review, --plan FILE applies it)
  export    refund entries of a period for finance (CSV/JSON), a summary, or discrepancies
  report    one self-contained HTML page of a period's refunds, discrepancies and runs
  explain   what a proposal was charged, what the policy says and why, what the ledger holds
  seed      fill an empty database with a synthetic marketplace
  schedule  run on the configured schedule until SIGTERM; serve /healthz, /readyz, /metrics
  discrepancies  list the exceptions runs keep (list), acknowledge one with a note (ack)
  close-period   record a period as closed with its refunds export's sha256 and rows

Run "connects-reconciler COMMAND -h" for a command's flags and settings,
"connects-reconciler --version" for the build.
Exit codes: 0 done (or skipped: another run holds the lock), 1 failed,
            2 bad usage or configuration, 3 refused by a safety limit,
            4 run --plan: another run holds the lock, the plan was not applied.
`

// commandFunc is one command, given the arguments after its name.
type commandFunc func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error

// commands are the commands run dispatches to by name (version and help
// aside).
var commands = map[string]commandFunc{
	"migrate":       cmdMigrate,
	"run":           cmdRun,
	"seed":          cmdSeed,
	"export":        cmdExport,
	"report":        cmdReport,
	"explain":       cmdExplain,
	"schedule":      cmdSchedule,
	"discrepancies": cmdDiscrepancies,
	"close-period":  cmdClosePeriod,
}

// run is the whole program but for process concerns, so tests can drive it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return commandError{"no command given"}
	}
	switch args[0] {
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, version.Get())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	if cmd, ok := commands[args[0]]; ok {
		return cmd(ctx, args[1:], getenv, stdout, stderr)
	}
	return commandError{fmt.Sprintf("unknown command %q", args[0])}
}
