package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"go.uber.org/zap"

	"github.com/connects/connects-reconciler/reconcile"
	"github.com/connects/connects-reconciler/reconcile/postgres"
	"github.com/connects/connects-reconciler/reconcile/postgres/pgtest"
	queries "github.com/connects/connects-reconciler/sql"
)

// jobRole is the least-privilege role the migration creates.
const jobRole = "connects_reconciler"

// adminExec runs a statement on the test server's administrative database.
func adminExec(t testing.TB, q string) {
	t.Helper()
	admin, err := sqlx.Open("postgres", pgtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec(q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// loginAs creates a login role that is a member of member (as production
// does: README "Least privilege") and returns dsn with that user. Roles are
// cluster-wide: the name is unique, and the role is dropped at the end.
// Call it before the test's databases are made, so that it is dropped after
// them.
func loginAs(t testing.TB, member string) (user string) {
	t.Helper()
	user = strings.ReplaceAll(runID("crtest_login"), "-", "_")
	adminExec(t, fmt.Sprintf("CREATE ROLE %s LOGIN IN ROLE %s", user, member))
	t.Cleanup(func() { adminExec(t, "DROP ROLE IF EXISTS "+user) })
	return user
}

// withUser returns dsn with another user.
func withUser(t testing.TB, dsn, user string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(user)
	return u.String()
}

// The job runs as a member of connects_reconciler and nothing more: a full
// run works, and the role cannot alter or delete a ledger entry, write the
// marketplace, or create or drop anything.
func TestRoleLeastPrivilege(t *testing.T) {
	t.Parallel()
	user := loginAs(t, jobRole)
	f := newFaultDB(t, 1500, 60)
	asJob := withUser(t, f.url, user)

	// A full run, then a second one that finds nothing, as the role.
	job := f.open(asJob, postgres.Timeouts{})
	r := f.reconciler(job, zap.NewNop(), reconcile.Options{})
	for i := range 2 {
		if _, err := r.Run(context.Background(), runID("role")); err != nil {
			t.Fatalf("run %d as %s: %v", i+1, jobRole, err)
		}
	}
	f.checkComplete(false)
	// The role records exceptions and appends acknowledgements.
	var exc struct {
		ProposalID int64  `db:"proposal_id"`
		Component  string `db:"component"`
		Kind       string `db:"kind"`
	}
	if err := job.Get(&exc, `SELECT proposal_id, component, kind FROM reconciler_exceptions ORDER BY id LIMIT 1`); err != nil {
		t.Fatalf("no exception recorded by the role's runs: %v", err)
	}
	if _, err := postgres.NewStore(job, zap.NewNop()).Acknowledge(context.Background(), exc.ProposalID,
		reconcile.Component(exc.Component), reconcile.State(exc.Kind), "role test", "checked"); err != nil {
		t.Errorf("acknowledge as %s: %v", jobRole, err)
	}
	var who string
	if err := job.Get(&who, `SELECT current_user`); err != nil || who != user {
		t.Fatalf("the job connected as %q (%v), want %s", who, err, user)
	}

	// What the role must not do: each statement is refused with 42501.
	var entry int64
	if err := f.db.Get(&entry, `SELECT min(id) FROM connects_ledger WHERE idempotency_key LIKE 'refund:%'`); err != nil {
		t.Fatal(err)
	}
	refused := []string{
		fmt.Sprintf(`UPDATE connects_ledger SET amount = amount * 2 WHERE id = %d`, entry),
		fmt.Sprintf(`UPDATE connects_ledger SET idempotency_key = 'x' WHERE id = %d`, entry),
		fmt.Sprintf(`DELETE FROM connects_ledger WHERE id = %d`, entry),
		`DELETE FROM connects_ledger`,
		`TRUNCATE connects_ledger`,
		`ALTER TABLE connects_ledger DROP CONSTRAINT connects_ledger_idempotency_key_key`,
		`DROP INDEX connects_ledger_one_refund`,
		`DROP TABLE connects_ledger`,
		`DELETE FROM connects_balances`,
		`INSERT INTO connects_balances (freelancer_id, balance) VALUES (-1, 1000)`,
		`TRUNCATE connects_balances`,
		`UPDATE jobs SET status = 'removed', close_reason = 'tos_violation'`,
		`INSERT INTO jobs (id, client_id, status) VALUES (-1, 1, 'open')`,
		`DELETE FROM proposals`,
		`UPDATE boost_bids SET outcome = 'outbid'`,
		`INSERT INTO proposal_interactions (proposal_id, kind, occurred_at) SELECT min(id), 'opened', now() FROM proposals`,
		`DELETE FROM boost_auctions`,
		`CREATE TABLE connects_ledger_copy (id bigint)`,
		`TRUNCATE reconciler_refunds`,
		// acknowledgements are append only
		`UPDATE reconciler_exception_acks SET note = 'rewritten'`,
		`DELETE FROM reconciler_exception_acks`,
		`TRUNCATE reconciler_exception_acks`,
		// a refund's match is never rewritten
		`UPDATE reconciler_refund_matches SET rule = ''`,
		`DELETE FROM reconciler_refund_matches`,
		`TRUNCATE reconciler_refund_matches`,
	}
	for _, q := range refused {
		_, err := job.Exec(q)
		var pqErr *pq.Error
		if !errors.As(err, &pqErr) || pqErr.Code != "42501" {
			t.Errorf("as %s, %s: got %v, want permission denied (42501)", jobRole, q, err)
		}
	}
	var after int64
	if err := f.db.Get(&after, `SELECT count(*) FROM connects_ledger WHERE id = $1`, entry); err != nil || after != 1 {
		t.Errorf("ledger entry %d after the attempts: %d rows (%v), want it untouched", entry, after, err)
	}
	f.checkComplete(false)

	// The grants, table by table; every reconciler_* table (a later
	// migration's too) must be the job's to use.
	type grant struct {
		Table string `db:"table_name"`
		Privs string `db:"privs"`
	}
	var grants []grant
	if err := f.db.Select(&grants, `
	    SELECT c.relname AS table_name,
	           concat_ws(',', CASE WHEN has_table_privilege($1, c.oid, 'SELECT') THEN 'select' END,
	                          CASE WHEN has_table_privilege($1, c.oid, 'INSERT') THEN 'insert' END,
	                          CASE WHEN has_table_privilege($1, c.oid, 'UPDATE') THEN 'update' END,
	                          CASE WHEN has_table_privilege($1, c.oid, 'DELETE') THEN 'delete' END,
	                          CASE WHEN has_table_privilege($1, c.oid, 'TRUNCATE') THEN 'truncate' END) AS privs
	    FROM pg_class c WHERE c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace
	      AND c.relname NOT LIKE 'reconciler\_%versions' ORDER BY 1`, user); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"jobs": "select", "proposals": "select", "boost_auctions": "select", "boost_bids": "select",
		"proposal_interactions": "select", "connects_ledger": "select,insert", "connects_balances": "select,update",
	}
	for _, g := range grants {
		w, ok := want[g.Table]
		if strings.HasPrefix(g.Table, "reconciler_") {
			w, ok = "select,insert,update,delete", true
		}
		if g.Table == "reconciler_exception_acks" || g.Table == "reconciler_refund_matches" ||
			g.Table == "reconciler_closed_periods" || g.Table == "reconciler_closed_period_entries" {
			w = "select,insert" // append only: an acknowledgement, a refund's match, a closed period are kept forever
		}
		if !ok {
			w = "" // a table this test does not know: the job needs nothing on it
		}
		if g.Privs != w {
			t.Errorf("%s on %s: got %q, want %q", jobRole, g.Table, g.Privs, w)
		}
	}
}

// upMigration returns the Up section of the role migration.
func upMigration(t testing.TB) string {
	t.Helper()
	b, err := fs.ReadFile(queries.Migrations, "migrations/00003_role.sql")
	if err != nil {
		t.Fatal(err)
	}
	up, _, ok := strings.Cut(string(b), "-- +goose Down")
	if !ok {
		t.Fatal("00003_role.sql has no Down section")
	}
	return up
}

// The role migration runs in many databases of one cluster at once (tests,
// environments) while the role is cluster-wide: racing to create it must not
// fail. Run with a fresh role name in four databases at the same moment,
// twice (the second time finds the role).
func TestRoleMigrationRaceSafe(t *testing.T) {
	t.Parallel()
	name := strings.ReplaceAll(runID("crtest_role"), "-", "_")
	// Registered first, so it runs after the databases are dropped.
	t.Cleanup(func() { adminExec(t, "DROP ROLE IF EXISTS "+name) })
	sqlText := strings.ReplaceAll(upMigration(t), jobRole, name)
	dbs := make([]*sqlx.DB, 4)
	for i := range dbs {
		dbs[i] = pgtest.NewDB(t)
	}
	for round := range 2 {
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, len(dbs))
		for i, db := range dbs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = db.Exec(sqlText)
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d, database %d: the migration failed: %v", round+1, i, err)
			}
		}
	}
	for i, db := range dbs {
		var ok bool
		if err := db.Get(&ok, `SELECT has_table_privilege($1, 'connects_ledger', 'INSERT')
		    AND NOT has_table_privilege($1, 'connects_ledger', 'UPDATE')
		    AND NOT has_table_privilege($1, 'connects_ledger', 'DELETE')
		    AND has_table_privilege($1, 'connects_balances', 'UPDATE')
		    AND has_table_privilege($1, 'reconciler_runs', 'INSERT')`, name); err != nil || !ok {
			t.Errorf("database %d: the role's grants are wrong (%v)", i, err)
		}
	}
}
