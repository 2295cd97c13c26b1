package main

import (
	"context"
	"errors"
	"fmt"
	"io"
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

func cmdDiscrepanciesList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newCommand("discrepancies list", "List the exceptions (discrepancies kept with their life) by state, kind and age, oldest first.", stderr)
	state := c.fs.String("state", "open", "open, closed or all")
	kind := c.fs.String("kind", "", "only this kind ("+finance.ExceptionKindNames()+")")
	olderThan := c.fs.String("older-than", "", "only exceptions open longer than this: days (7d) or a duration (36h)")
	format := c.fs.String("format", "table", "table or json")
	if err := c.parse(ctx, args, getenv, stderr); err != nil {
		return err
	}
	f, problems := finance.ExceptionQuery{State: *state, Kind: *kind, OlderThan: *olderThan, Format: *format}.Filter()
	if len(problems) > 0 {
		return usageError{"discrepancies list: " + strings.Join(problems, "; ")}
	}
	store, closeStore, err := c.openPrimaryStore(ctx)
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
	kind := c.fs.String("kind", "", "the exception's kind, when the component has several ("+finance.ExceptionKindNames()+")")
	note := c.fs.String("note", "", "what was decided or done, for the next person")
	by := c.fs.String("by", "", "who acknowledges (a name or an e-mail)")
	if err := c.parse(ctx, args, getenv, stderr); err != nil {
		return err
	}
	if problems := (finance.AckRequest{ProposalID: *proposal, Component: *component, Kind: *kind, Note: *note, By: *by}).Problems(); len(problems) > 0 {
		return usageError{"discrepancies ack: " + strings.Join(problems, "; ")}
	}
	store, closeStore, err := c.openPrimaryStore(ctx)
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
		zap.String("kind", string(e.State)), zap.String("by", e.Ack.By))
	finance.WriteAck(stdout, e)
	return nil
}
