package postgres

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/connects/connects-reconciler/reconcile"
	queries "github.com/connects/connects-reconciler/sql"
)

var (
	qSchemaCheck         = query("schema_check.sql")
	qSchemaVersions      = query("schema_versions.sql")
	qMarketplaceVersions = query("marketplace_versions.sql")
	qVersionTables       = query("version_tables.sql")
)

// contractTables are the marketplace's tables the job reads and appends to;
// jobTables the job's own (those its role may use where it cannot read the
// migration table).
var (
	contractTables = []string{"jobs", "proposals", "boost_auctions", "boost_bids", "proposal_interactions", "connects_ledger", "connects_balances"}
	jobTables      = []string{"reconciler_runs", "reconciler_refunds", "reconciler_watermarks", "reconciler_seen_events", "reconciler_exceptions", "reconciler_exception_acks"}
)

// CheckSchema fails with a reconcile.SetupError when the database lacks the
// contract's tables (the URL names another database) or the job's schema is
// missing or behind this build's migrations (run `connects-reconciler
// migrate`), instead of a raw `relation ... does not exist` in the middle of
// a run.
func CheckSchema(ctx context.Context, db *sqlx.DB) error {
	var check struct {
		Missing  pq.StringArray `db:"missing"`
		Versions string         `db:"versions"`
	}
	if err := db.GetContext(ctx, &check, qSchemaCheck, pq.Array(append(append([]string{}, contractTables...), jobTables...))); err != nil {
		return fmt.Errorf("check the schema: %w", translate(err))
	}
	var missingContract, missingJob []string
	for _, t := range check.Missing {
		if strings.HasPrefix(t, "reconciler_") {
			missingJob = append(missingJob, t)
		} else {
			missingContract = append(missingContract, t)
		}
	}
	if len(missingContract) > 0 {
		return &reconcile.SetupError{
			Err: fmt.Errorf("the database has no marketplace tables %s", strings.Join(missingContract, ", ")),
			Fix: "DATABASE_URL must name the marketplace's database (for development and demos: `connects-reconciler migrate --with-marketplace` creates them)",
		}
	}
	want := LatestMigration()
	if len(missingJob) > 0 || check.Versions == "absent" {
		what := "the job's schema is missing"
		if len(missingJob) > 0 {
			what += " (no " + strings.Join(missingJob, ", ") + ")"
		}
		return &reconcile.SetupError{Err: fmt.Errorf("%s", what),
			Fix: fmt.Sprintf("run `connects-reconciler migrate` against this database first (as a user that may create tables); this build needs migration %d", want)}
	}
	if check.Versions != "readable" {
		return nil // the job's role: its tables are there
	}
	applied, err := appliedVersions(ctx, db, qSchemaVersions)
	if err != nil {
		return err
	}
	var have int64
	for _, a := range applied {
		have = max(have, a.Version)
	}
	if have < want {
		return &reconcile.SetupError{Err: fmt.Errorf("the job's schema is at migration %d, this build needs %d", have, want),
			Fix: "run `connects-reconciler migrate` (`connects-reconciler migrate status` lists what is applied)"}
	}
	return nil
}

// LatestMigration is the highest version among the job's embedded migrations.
func LatestMigration() int64 {
	var latest int64
	for _, m := range migrationFiles(queries.Migrations, "migrations") {
		latest = max(latest, m.Version)
	}
	return latest
}

// Migration is one migration file and, when applied, when.
type Migration struct {
	Set       string    `json:"set"`
	Version   int64     `json:"version"`
	File      string    `json:"file"`
	Applied   bool      `json:"applied"`
	AppliedAt time.Time `json:"applied_at,omitzero"`
}

// migrationFiles lists a set's files by version.
func migrationFiles(fsys fs.FS, dir string) []Migration {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		panic(fmt.Sprintf("read %s: %v", dir, err)) // embedded
	}
	var out []Migration
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "_")
		if !ok || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		v, err := strconv.ParseInt(prefix, 10, 64)
		if err != nil {
			continue
		}
		out = append(out, Migration{Version: v, File: dir + "/" + e.Name()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out
}

type appliedVersion struct {
	Version int64     `db:"version_id"`
	At      time.Time `db:"tstamp"`
}

func appliedVersions(ctx context.Context, db *sqlx.DB, q string) ([]appliedVersion, error) {
	var out []appliedVersion
	if err := db.SelectContext(ctx, &out, q); err != nil {
		return nil, fmt.Errorf("read the applied migrations: %w", translate(err))
	}
	return out, nil
}

// MigrationStatus lists every migration of the job's schema and, when the
// database has its version table (or withMarketplace), of the development
// marketplace, each applied or pending: `migrate status`. It changes
// nothing (goose's own status would create the version tables).
func MigrationStatus(ctx context.Context, db *sqlx.DB, withMarketplace bool) ([]Migration, error) {
	var tables struct {
		Schema      bool `db:"schema"`
		Marketplace bool `db:"marketplace"`
	}
	if err := db.GetContext(ctx, &tables, qVersionTables); err != nil {
		return nil, fmt.Errorf("migration status: %w", translate(err))
	}
	var out []Migration
	for _, set := range migrationSets {
		exists, q := tables.Schema, qSchemaVersions
		if set.marketplace {
			exists, q = tables.Marketplace, qMarketplaceVersions
			if !exists && !withMarketplace {
				continue
			}
		}
		applied := map[int64]time.Time{}
		if exists {
			rows, err := appliedVersions(ctx, db, q)
			if err != nil {
				return nil, err
			}
			for _, r := range rows {
				applied[r.Version] = r.At
			}
		}
		for _, m := range migrationFiles(set.fsys, set.dir) {
			m.Set = set.name
			m.AppliedAt, m.Applied = applied[m.Version]
			out = append(out, m)
		}
	}
	return out, nil
}
