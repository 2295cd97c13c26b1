package main

import (
	"context"
	"io"

	"github.com/connects/connects-reconciler/reconcile/postgres"
)

func cmdMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newCommand("migrate", "Apply the job's migrations; re-running is a no-op.", stderr)
	withMarketplace := c.fs.Bool("with-marketplace", false, "also create the contract's marketplace tables (development, tests, demos)")
	if err := c.parse(args, getenv, stderr); err != nil {
		return err
	}
	db, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	return postgres.Migrate(ctx, db, *withMarketplace, c.log)
}
