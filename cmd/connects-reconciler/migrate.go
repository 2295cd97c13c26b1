package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/connects/connects-reconciler/reconcile/postgres"
)

func cmdMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "status" {
		return cmdMigrateStatus(ctx, args[1:], getenv, stdout, stderr)
	}
	c := newCommand("migrate", "Apply the job's migrations; re-running is a no-op. \"migrate status\" lists what is applied.", stderr)
	c.noSchema = true
	withMarketplace := c.fs.Bool("with-marketplace", false, "also create the contract's marketplace tables (development, tests, demos)")
	if err := c.parse(ctx, args, getenv, stderr); err != nil {
		return err
	}
	db, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	return postgres.Migrate(ctx, db, *withMarketplace, c.log)
}

// cmdMigrateStatus lists every migration, applied (when) or pending; it
// changes nothing, so the job's role may run it.
func cmdMigrateStatus(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newCommand("migrate status", "List the job's migrations (and the development marketplace's, where applied): applied, when, or pending. Changes nothing.", stderr)
	c.noSchema = true
	withMarketplace := c.fs.Bool("with-marketplace", false, "also list the marketplace's migrations where none is applied yet")
	format := c.fs.String("format", "text", "text or json")
	if err := c.parse(ctx, args, getenv, stderr); err != nil {
		return err
	}
	if *format != "text" && *format != "json" {
		return usageError{fmt.Sprintf("migrate status: --format must be text or json, got %q", *format)}
	}
	db, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	status, err := postgres.MigrationStatus(ctx, db, *withMarketplace)
	if err != nil {
		return err
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"migrations": status})
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SET\tVERSION\tFILE\tAPPLIED")
	pending := 0
	for _, m := range status {
		applied := "pending"
		if m.Applied {
			applied = m.AppliedAt.UTC().Format(time.RFC3339)
		} else {
			pending++
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\n", m.Set, m.Version, m.File, applied)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if pending > 0 {
		fmt.Fprintf(stdout, "%d pending: run `connects-reconciler migrate`\n", pending)
	} else {
		fmt.Fprintln(stdout, "up to date")
	}
	return nil
}
