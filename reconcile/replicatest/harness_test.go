package replicatest

import (
	"testing"

	"github.com/connects/connects-reconciler/reconcile/postgres/pgtest"
)

func TestStandbyHarness(t *testing.T) {
	r := pgtest.NewReplicated(t)
	r.Primary.MustExec(`INSERT INTO jobs (id, client_id, status) VALUES (1, 1, 'open')`)
	r.CatchUp()
	var n int
	if err := r.Standby.Get(&n, `SELECT count(*) FROM jobs`); err != nil || n != 1 {
		t.Fatalf("standby jobs: %d, %v", n, err)
	}
}
