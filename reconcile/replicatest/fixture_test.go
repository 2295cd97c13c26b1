package replicatest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"go.uber.org/zap/zaptest"

	"github.com/connects/connects-reconciler/reconcile"
	"github.com/connects/connects-reconciler/reconcile/postgres"
	"github.com/connects/connects-reconciler/reconcile/postgres/pgtest"
)

// cluster is a primary with its hot standby, and pools on both logged in as
// a member of the job's role (connects_reconciler), as production runs.
type cluster struct {
	*pgtest.Replicated
	t testing.TB
	// app and appReplica are the job's pools on the primary and the standby.
	app, appReplica       *sqlx.DB
	appURL, appReplicaURL string
}

func newCluster(t testing.TB) *cluster {
	t.Helper()
	r := pgtest.NewReplicated(t)
	r.Primary.MustExec(`CREATE ROLE reconciler_app LOGIN IN ROLE connects_reconciler`)
	r.CatchUp()
	c := &cluster{Replicated: r, t: t,
		appURL: asUser(r.PrimaryURL, "reconciler_app"), appReplicaURL: asUser(r.StandbyURL, "reconciler_app")}
	c.app = sqlx.MustOpen("postgres", c.appURL)
	c.appReplica = sqlx.MustOpen("postgres", c.appReplicaURL)
	t.Cleanup(func() { c.app.Close(); c.appReplica.Close() })
	return c
}

func asUser(url, user string) string {
	return "postgres://" + user + "@" + url[len("postgres://postgres@"):]
}

func (c *cluster) exec(q string, args ...any) {
	c.t.Helper()
	if _, err := c.Primary.Exec(q, args...); err != nil {
		c.t.Fatalf("fixture %q: %v", q, err)
	}
}

// jobs inserts n open jobs from id first, each with per proposals charged a
// base fee of 4 Connects and a boost fee of 3; proposal ids are job*100+i,
// each by its own freelancer (the same id).
func (c *cluster) jobs(first, n int64, per int) {
	c.t.Helper()
	c.exec(`INSERT INTO jobs (id, client_id, status) SELECT g, 1, 'open' FROM generate_series($1::bigint, $2::bigint) g`, first, first+n-1)
	c.exec(`INSERT INTO proposals (id, job_id, freelancer_id, submitted_at)
	        SELECT j*100+i, j, j*100+i, now() - interval '30 days'
	        FROM generate_series($1::bigint, $2::bigint) j, generate_series(1, $3::int) i`, first, first+n-1, per)
	c.exec(`INSERT INTO connects_ledger (freelancer_id, amount, entry_type, proposal_id, component, idempotency_key)
	        SELECT p.freelancer_id, f.amount, f.typ, p.id, f.component, f.typ || ':' || p.id
	        FROM proposals p, (VALUES (-4, 'proposal_fee', 'base'), (-3, 'boost_fee', 'boost')) f(amount, typ, component)
	        WHERE p.job_id BETWEEN $1 AND $2`, first, first+n-1)
	c.exec(`INSERT INTO connects_balances (freelancer_id, balance)
	        SELECT freelancer_id, sum(amount) FROM connects_ledger WHERE freelancer_id IN
	          (SELECT freelancer_id FROM proposals WHERE job_id BETWEEN $1 AND $2) GROUP BY freelancer_id`, first, first+n-1)
}

// close closes the jobs [first, first+n) without a hire, at closedAt (an SQL
// expression of the primary's clock).
func (c *cluster) close(first, n int64, closedAt string) {
	c.t.Helper()
	c.exec(`UPDATE jobs SET status = 'closed', close_reason = 'no_hire', closed_at = `+closedAt+`
	        WHERE id BETWEEN $1 AND $2`, first, first+n-1)
}

// onlineRefund writes a refund the way the marketplace's online path does,
// under its own key, with the balance change, on the primary.
func (c *cluster) onlineRefund(proposal int64, component string) {
	c.t.Helper()
	c.exec(`WITH fee AS (SELECT freelancer_id, -sum(amount) AS connects FROM connects_ledger
	          WHERE proposal_id = $1 AND component = $2 AND entry_type IN ('proposal_fee', 'boost_fee') GROUP BY freelancer_id),
	        ins AS (INSERT INTO connects_ledger (freelancer_id, amount, entry_type, proposal_id, component, idempotency_key)
	          SELECT freelancer_id, connects, 'refund', $1, $2, 'online:' || $1 || ':' || $2 FROM fee RETURNING freelancer_id, amount)
	        UPDATE connects_balances b SET balance = b.balance + ins.amount FROM ins WHERE b.freelancer_id = ins.freelancer_id`,
		proposal, component)
}

// reconciler plans on the standby and writes on the primary.
func (c *cluster) reconciler(p reconcile.Policy, o reconcile.Options) *reconcile.Reconciler {
	log := zaptest.NewLogger(c.t)
	return &reconcile.Reconciler{
		Store:   postgres.NewStore(c.app, log).WithReplica(c.appReplica, c.appReplicaURL),
		Policy:  p,
		Options: o,
		Log:     log,
	}
}

// ledger summarises the primary's refunds: how many, how many components
// refunded more than once, and whether every balance equals its ledger sum.
type ledger struct {
	Refunds, Doubled, BadBalances int
}

func (c *cluster) ledger() ledger {
	c.t.Helper()
	var l ledger
	err := c.Primary.QueryRow(`SELECT
	    (SELECT count(*) FROM connects_ledger WHERE entry_type = 'refund'),
	    (SELECT count(*) FROM (SELECT 1 FROM connects_ledger WHERE entry_type = 'refund'
	        GROUP BY proposal_id, component HAVING count(*) > 1) d),
	    (SELECT count(*) FROM connects_balances b
	        FULL JOIN (SELECT freelancer_id, sum(amount) AS total FROM connects_ledger GROUP BY freelancer_id) l
	        ON l.freelancer_id = b.freelancer_id WHERE coalesce(b.balance, 0) <> coalesce(l.total, 0))`).
		Scan(&l.Refunds, &l.Doubled, &l.BadBalances)
	if err != nil {
		c.t.Fatal(err)
	}
	return l
}

// watermark is the unsharded watermark (equal for both sources), or zero.
func (c *cluster) watermark() time.Time {
	c.t.Helper()
	var w []time.Time
	if err := c.Primary.Select(&w, `SELECT watermark FROM reconciler_watermarks WHERE shard = '' ORDER BY source`); err != nil {
		c.t.Fatal(err)
	}
	if len(w) == 0 {
		return time.Time{}
	}
	if len(w) != 2 || !w[0].Equal(w[1]) {
		c.t.Fatalf("watermarks %v: want one per source, equal", w)
	}
	return w[0].UTC()
}

type runRecord struct {
	Status     string   `db:"status"`
	PlannedOn  *string  `db:"planned_on"`
	LagSeconds *float64 `db:"lag"`
	Error      *string  `db:"error"`
	Issued     int      `db:"refunds_issued"`
}

func (c *cluster) run(id string) runRecord {
	c.t.Helper()
	var r runRecord
	if err := c.Primary.Get(&r, `SELECT status, planned_on, extract(epoch FROM replica_lag)::float8 AS lag, error, refunds_issued
	    FROM reconciler_runs WHERE id = $1`, id); err != nil {
		c.t.Fatalf("run record %s: %v", id, err)
	}
	return r
}

func issued(t testing.TB, res *reconcile.Result) []reconcile.Refund {
	t.Helper()
	rs, err := res.IssuedRefunds()
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func keys(rs []reconcile.Refund) map[string]bool {
	out := map[string]bool{}
	for _, r := range rs {
		out[fmt.Sprintf("%d/%s", r.ProposalID, r.Component)] = true
	}
	return out
}

var bg = context.Background()
