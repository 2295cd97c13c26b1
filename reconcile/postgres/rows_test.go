package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/connects/connects-reconciler/reconcile"
	"github.com/connects/connects-reconciler/reconcile/postgres"
	"github.com/connects/connects-reconciler/reconcile/postgres/pgtest"
)

// The export's hot loop scans by position into its row struct: a statement
// whose columns are not the struct's db tags in order is refused before any
// row is read, naming the column, rather than read into the wrong fields.
func TestRefundRowsCheckedAgainstTheirTags(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	cols := []string{"1 AS entry_id", "now() AS created_at", "2 AS freelancer_id", "3 AS proposal_id", "4 AS job_id",
		"'base' AS component", "5 AS connects", "'online' AS issued_by", "'' AS rule", "'' AS run_id",
		"'k' AS idempotency_key", "'refunded' AS verdict", "'' AS adjusts_period"}
	read := func(cols []string) (int, error) {
		n := 0
		err := postgres.StreamRefunds(context.Background(), db, "SELECT "+strings.Join(cols, ", "), nil, func(r reconcile.LedgerRefund) error {
			if r.EntryID != 1 || r.FreelancerID != 2 || r.Connects != 5 || r.Component != "base" || r.IssuedBy != "online" {
				t.Errorf("read %+v", r)
			}
			n++
			return nil
		})
		return n, err
	}
	if n, err := read(cols); err != nil || n != 1 {
		t.Fatalf("the export's own columns: %d rows, %v", n, err)
	}
	swapped := append([]string(nil), cols...)
	swapped[2], swapped[6] = "5 AS connects", "2 AS freelancer_id"
	if n, err := read(swapped); err == nil || n != 0 || !strings.Contains(err.Error(), `column 3 is "connects", the row struct scans "freelancer_id"`) {
		t.Errorf("swapped columns: %d rows, %v; want refused before any row, naming the column", n, err)
	}
	if _, err := read(cols[:12]); err == nil || !strings.Contains(err.Error(), "returns 12 columns") {
		t.Errorf("a column missing: %v", err)
	}
}
