package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"go.uber.org/zap"

	"github.com/connects/connects-reconciler/reconcile"
	queries "github.com/connects/connects-reconciler/sql"
)

// Migration sets, each with its own goose version table so that the job's
// schema and the development copy of the marketplace move independently.
var migrationSets = []struct {
	name, table, dir string
	fsys             fs.FS
	marketplace      bool
}{
	{"marketplace", "reconciler_marketplace_versions", "marketplace", queries.Marketplace, true},
	{"reconciler", "reconciler_schema_versions", "migrations", queries.Migrations, false},
}

// Migrate applies the job's migrations and, with withMarketplace, first the
// contract's marketplace tables (development, tests, demos). Applying twice
// is a no-op; concurrent callers wait on a PostgreSQL session lock.
func Migrate(ctx context.Context, db *sqlx.DB, withMarketplace bool, log *zap.Logger) error {
	for _, set := range migrationSets {
		if set.marketplace && !withMarketplace {
			continue
		}
		sub, err := fs.Sub(set.fsys, set.dir)
		if err != nil {
			return fmt.Errorf("migrations %s: %w", set.name, err)
		}
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return fmt.Errorf("migrations %s: %w", set.name, err)
		}
		// Out of order allowed: migrations written on parallel branches land
		// in the order they are merged, so a database migrated between two
		// landings holds a higher version without a lower one (00011 before
		// 00009 and 00010 did); each migration stands alone, so the missing
		// ones are applied rather than refused.
		p, err := goose.NewProvider(goose.DialectPostgres, db.DB, sub,
			goose.WithTableName(set.table), goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true),
			goose.WithAllowOutofOrder(true))
		if err != nil {
			return fmt.Errorf("migrations %s: %w", set.name, err)
		}
		results, err := p.Up(ctx)
		if err != nil {
			var pqErr *pq.Error
			if errors.As(err, &pqErr) && pqErr.Code == "42501" {
				return fmt.Errorf("migrate %s: %w", set.name, &reconcile.SetupError{Err: err,
					Fix: "migrate needs a user that may create tables in the database's schema and create the role connects_reconciler (CREATEROLE): the database's owner with CREATEROLE, or a superuser; the job itself then runs as a member of connects_reconciler"})
			}
			return fmt.Errorf("migrate %s: %w", set.name, translate(err))
		}
		for _, r := range results {
			log.Info("applied migration", zap.String("set", set.name), zap.String("file", r.Source.Path), zap.Duration("took", r.Duration))
		}
		if len(results) == 0 {
			log.Info("schema up to date", zap.String("set", set.name))
		}
	}
	return nil
}
