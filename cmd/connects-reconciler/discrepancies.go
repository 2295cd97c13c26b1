package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/connects/connects-reconciler/finance"
	"github.com/connects/connects-reconciler/reconcile"
)

const discrepanciesUsage = `Usage:
  connects-reconciler discrepancies list [--state open|closed|all] [--kind K] [--older-than 7d] [--format table|json]
  connects-reconciler discrepancies ack --proposal P --component base|boost [--kind K] --note "..." --by NAME

Exceptions are the discrepancies the job's runs found, each kept with its life:
opened by the first run that finds it, closed by a full sweep that no longer
does, reopened if it returns. An acknowledgement is kept forever.
`

func cmdDiscrepancies(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, discrepanciesUsage)
		return usageError{"discrepancies: give list or ack"}
	}
	switch args[0] {
	case "list":
		return cmdDiscrepanciesList(ctx, args[1:], getenv, stdout, stderr)
	case "ack":
		return cmdDiscrepanciesAck(ctx, args[1:], getenv, stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, discrepanciesUsage)
		return nil
	default:
		fmt.Fprint(stderr, discrepanciesUsage)
		return usageError{fmt.Sprintf("discrepancies: unknown subcommand %q (list or ack)", args[0])}
	}
}

// parseAge reads an age: Go durations (36h, 90m) or whole days (7d).
func parseAge(v string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 || n > 36500 {
			return 0, fmt.Errorf("--older-than must be a number of days like 7d or a duration like 36h, got %q", v)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	t, err := time.ParseDuration(v)
	if err != nil || t < 0 {
		return 0, fmt.Errorf("--older-than must be a number of days like 7d or a duration like 36h, got %q", v)
	}
	return t, nil
}

func kindNames() string {
	var names []string
	for _, k := range reconcile.DiscrepancyStates {
		names = append(names, string(k))
	}
	return strings.Join(names, ", ")
}

func cmdDiscrepanciesList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newCommand("discrepancies list", "List the exceptions (discrepancies kept with their life) by state, kind and age, oldest first.", stderr)
	state := c.fs.String("state", "open", "open, closed or all")
	kind := c.fs.String("kind", "", "only this kind ("+kindNames()+")")
	olderThan := c.fs.String("older-than", "", "only exceptions open longer than this: days (7d) or a duration (36h)")
	format := c.fs.String("format", "table", "table or json")
	if err := c.parse(args, getenv, stderr); err != nil {
		return err
	}
	var problems []string
	f := reconcile.ExceptionFilter{Kind: reconcile.State(*kind)}
	switch *state {
	case "open", "closed":
		f.State = *state
	case "all":
	default:
		problems = append(problems, fmt.Sprintf("--state must be open, closed or all, got %q", *state))
	}
	if *kind != "" && !f.Kind.Discrepancy() {
		problems = append(problems, fmt.Sprintf("--kind must be one of %s, got %q", kindNames(), *kind))
	}
	if *olderThan != "" {
		d, err := parseAge(*olderThan)
		if err != nil {
			problems = append(problems, err.Error())
		}
		f.OlderThan = d
	}
	if *format != "table" && *format != "json" {
		problems = append(problems, fmt.Sprintf("--format must be table or json, got %q", *format))
	}
	if len(problems) > 0 {
		return usageError{"discrepancies list: " + strings.Join(problems, "; ")}
	}
	store, closeStore, err := c.openStore(ctx)
	if err != nil {
		return err
	}
	defer closeStore()

	return finance.WriteExceptions(stdout, *format, func(fn func(reconcile.Exception, time.Time) error) (time.Time, error) {
		return store.Exceptions(ctx, f, fn)
	})
}

func cmdDiscrepanciesAck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newCommand("discrepancies ack", "Acknowledge an exception with a note; kept forever, the exception shows the latest.", stderr)
	proposal := c.fs.Int64("proposal", 0, "the exception's proposal")
	component := c.fs.String("component", "", "base or boost")
	kind := c.fs.String("kind", "", "the exception's kind, when the component has several ("+kindNames()+")")
	note := c.fs.String("note", "", "what was decided or done, for the next person")
	by := c.fs.String("by", "", "who acknowledges (a name or an e-mail)")
	if err := c.parse(args, getenv, stderr); err != nil {
		return err
	}
	var problems []string
	if *proposal <= 0 {
		problems = append(problems, "--proposal is required (a positive id)")
	}
	if *component != string(reconcile.Base) && *component != string(reconcile.Boost) {
		problems = append(problems, fmt.Sprintf("--component must be base or boost, got %q", *component))
	}
	if *kind != "" && !reconcile.State(*kind).Discrepancy() {
		problems = append(problems, fmt.Sprintf("--kind must be one of %s, got %q", kindNames(), *kind))
	}
	if strings.TrimSpace(*note) == "" {
		problems = append(problems, "--note is required")
	}
	if strings.TrimSpace(*by) == "" {
		problems = append(problems, "--by is required")
	}
	if len(problems) > 0 {
		return usageError{"discrepancies ack: " + strings.Join(problems, "; ")}
	}
	store, closeStore, err := c.openStore(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	e, err := store.Acknowledge(ctx, *proposal, reconcile.Component(*component), reconcile.State(*kind),
		strings.TrimSpace(*by), strings.TrimSpace(*note))
	var amb *reconcile.AmbiguousExceptionError
	switch {
	case errors.Is(err, reconcile.ErrUnknownException), errors.As(err, &amb):
		return usageError{"discrepancies ack: " + err.Error()}
	case err != nil:
		return err
	}
	c.log.Info("exception acknowledged", zap.Int64("proposal", e.ProposalID), zap.String("component", string(e.Component)),
		zap.String("kind", string(e.Kind)), zap.String("by", e.Ack.By))
	fmt.Fprintf(stdout, "acknowledged %s (%s since %s) by %s at %s: %s\n", e.ExceptionKey, e.State,
		e.OpenSince.Format(time.RFC3339), e.Ack.By, e.Ack.At.Format(time.RFC3339), e.Ack.Note)
	return nil
}
