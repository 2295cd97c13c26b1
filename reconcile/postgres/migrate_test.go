package postgres_test

import (
	"context"
	"testing"

	"go.uber.org/zap"

	"github.com/connects/connects-reconciler/reconcile/postgres"
	"github.com/connects/connects-reconciler/reconcile/postgres/pgtest"
)

// A database migrated between two landings holds a higher version without a
// lower one (00011 landed before 00009 and 00010): migrate applies the
// missing one instead of refusing ("missing (out-of-order) migrations").
func TestMigrateAppliesAMissingLowerVersion(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	for _, q := range []string{
		"DROP TABLE reconciler_lock_heartbeats",
		"DELETE FROM reconciler_schema_versions WHERE version_id = 9",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := postgres.Migrate(ctx, db, true, zap.NewNop()); err != nil {
		t.Fatalf("migrate with version 9 missing below the latest: %v", err)
	}
	var n int
	if err := db.GetContext(ctx, &n, "SELECT count(*) FROM reconciler_schema_versions WHERE version_id = 9 AND is_applied"); err != nil || n != 1 {
		t.Fatalf("version 9 applied: %d rows, %v", n, err)
	}
	if _, err := db.ExecContext(ctx, "SELECT FROM reconciler_lock_heartbeats"); err != nil {
		t.Fatalf("the missing migration's table: %v", err)
	}
}
