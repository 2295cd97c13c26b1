package postgres_test

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

// market builds a small marketplace in a fresh database. Times are given as
// ages: how long before the database's now() something happened.
type market struct {
	t   testing.TB
	db  *sqlx.DB
	ctx context.Context
	key int
	now time.Time // the database's clock when the market was made
	// batch is the planning batch size; tiny by default so that small
	// markets still span many slices.
	batch int64
}

func newMarket(t testing.TB) *market {
	t.Helper()
	m := &market{t: t, db: pgtest.NewDB(t), ctx: context.Background()}
	if err := m.db.Get(&m.now, `SELECT now()`); err != nil {
		t.Fatal(err)
	}
	return m
}

// at turns an age into a time; nil stays NULL.
func (m *market) at(age *time.Duration) *time.Time {
	if age == nil {
		return nil
	}
	t := m.now.Add(-*age)
	return &t
}

func (m *market) exec(q string, args ...any) {
	m.t.Helper()
	if _, err := m.db.ExecContext(m.ctx, q, args...); err != nil {
		m.t.Fatalf("fixture %q: %v", q, err)
	}
}

// ago is an age: how long before the market was made something happened.
func ago(d time.Duration) *time.Duration { return &d }

// job inserts a job; closedAgo nil leaves it open.
func (m *market) job(id int64, status, reason string, closedAgo *time.Duration) {
	m.t.Helper()
	var r *string
	if reason != "" {
		r = &reason
	}
	m.exec(`INSERT INTO jobs (id, client_id, status, close_reason, closed_at)
	        VALUES ($1, 1, $2, $3, $4)`, id, status, r, m.at(closedAgo))
}

func (m *market) proposal(id, job, freelancer int64, withdrawnAgo *time.Duration) {
	m.t.Helper()
	m.exec(`INSERT INTO proposals (id, job_id, freelancer_id, submitted_at, withdrawn_at)
	        VALUES ($1, $2, $3, now() - interval '30 days', $4)`, id, job, freelancer, m.at(withdrawnAgo))
	m.exec(`INSERT INTO connects_balances (freelancer_id, balance) VALUES ($1, 0) ON CONFLICT DO NOTHING`, freelancer)
}

// entry appends a ledger row and moves the balance, as the marketplace does.
func (m *market) entry(freelancer int64, amount int, typ string, proposal int64, component, key string) {
	m.t.Helper()
	m.key++
	if key == "" {
		key = fmt.Sprintf("fixture:%d", m.key)
	}
	var p *int64
	if proposal != 0 {
		p = &proposal
	}
	var c *string
	if component != "" {
		c = &component
	}
	m.exec(`INSERT INTO connects_ledger (freelancer_id, amount, entry_type, proposal_id, component, idempotency_key)
	        VALUES ($1, $2, $3, $4, $5, $6)`, freelancer, amount, typ, p, c, key)
	m.exec(`INSERT INTO connects_balances (freelancer_id, balance) VALUES ($1, $2)
	        ON CONFLICT (freelancer_id) DO UPDATE SET balance = connects_balances.balance + EXCLUDED.balance`, freelancer, amount)
}

func (m *market) fee(freelancer, proposal int64, component string, connects int) {
	typ := map[string]string{"base": "proposal_fee", "boost": "boost_fee"}[component]
	m.entry(freelancer, -connects, typ, proposal, component, "")
}

func (m *market) auction(job int64, endedAgo *time.Duration) {
	m.t.Helper()
	m.exec(`INSERT INTO boost_auctions (job_id, ended_at) VALUES ($1, $2)`, job, m.at(endedAgo))
}

func (m *market) bid(proposal int64, outcome string, outbidAgo *time.Duration) {
	m.t.Helper()
	var o *string
	if outcome != "" {
		o = &outcome
	}
	m.exec(`INSERT INTO boost_bids (proposal_id, outcome, outbid_at) VALUES ($1, $2, $3)`, proposal, o, m.at(outbidAgo))
}

func (m *market) touch(proposal int64, kind string, occurredAgo *time.Duration) {
	m.t.Helper()
	m.exec(`INSERT INTO proposal_interactions (proposal_id, kind, occurred_at) VALUES ($1, $2, $3)`, proposal, kind, m.at(occurredAgo))
}

// reconciler returns a reconciler over the market's database.
func (m *market) reconciler(p reconcile.Policy) *reconcile.Reconciler {
	log := zaptest.NewLogger(m.t)
	batch := m.batch
	if batch == 0 {
		batch = 7
	}
	return &reconcile.Reconciler{
		Store:   postgres.NewStore(m.db, log),
		Policy:  p,
		Options: reconcile.Options{BatchSize: batch, ApplyBatchSize: 3, Retries: 2, RetryBackoff: time.Millisecond, Full: true},
		Log:     log,
	}
}

// refunds returns the ledger's refund rows as "proposal/component=amount@account".
func (m *market) refunds() map[string]string {
	m.t.Helper()
	var rows []struct {
		ProposalID   int64  `db:"proposal_id"`
		Component    string `db:"component"`
		Amount       int    `db:"amount"`
		FreelancerID int64  `db:"freelancer_id"`
	}
	if err := m.db.SelectContext(m.ctx, &rows, `SELECT proposal_id, component, amount, freelancer_id
	    FROM connects_ledger WHERE entry_type = 'refund' ORDER BY proposal_id, component`); err != nil {
		m.t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range rows {
		out[fmt.Sprintf("%d/%s", r.ProposalID, r.Component)] = fmt.Sprintf("%d@%d", r.Amount, r.FreelancerID)
	}
	return out
}

// checkBalances fails the test unless every balance equals its ledger sum.
func (m *market) checkBalances() {
	m.t.Helper()
	var bad []string
	if err := m.db.SelectContext(m.ctx, &bad, `
	    SELECT format('%s: balance %s, ledger %s', b.freelancer_id, b.balance, coalesce(l.total, 0))
	    FROM connects_balances b
	    FULL JOIN (SELECT freelancer_id, sum(amount) AS total FROM connects_ledger GROUP BY freelancer_id) l
	      ON l.freelancer_id = b.freelancer_id
	    WHERE coalesce(b.balance, 0) <> coalesce(l.total, 0)`); err != nil {
		m.t.Fatal(err)
	}
	if len(bad) > 0 {
		m.t.Errorf("balances differ from ledger sums: %v", bad)
	}
}

// fatalT is what the read helpers need of a test: *testing.T and *rapid.T.
type fatalT interface {
	Helper()
	Fatalf(format string, args ...any)
}

// refundsOf reads the refunds a plan would write.
func refundsOf(t fatalT, p *reconcile.Plan) []reconcile.Refund {
	t.Helper()
	rs, err := p.Refunds()
	if err != nil {
		t.Fatalf("read plan refunds: %v", err)
	}
	return rs
}

// batchOf is the plan's refunds as one apply batch.
func batchOf(t fatalT, p *reconcile.Plan) []reconcile.Verdict {
	t.Helper()
	var out []reconcile.Verdict
	for _, r := range refundsOf(t, p) {
		out = append(out, reconcile.Verdict(r))
	}
	return out
}

// discrepanciesOf reads the plan's discrepancies.
func discrepanciesOf(t fatalT, p *reconcile.Plan) []reconcile.Discrepancy {
	t.Helper()
	ds, err := p.Discrepancies()
	if err != nil {
		t.Fatalf("read plan discrepancies: %v", err)
	}
	return ds
}

// issuedOf reads the refunds a run wrote.
func issuedOf(t fatalT, res *reconcile.Result) []reconcile.Refund {
	t.Helper()
	rs, err := res.IssuedRefunds()
	if err != nil {
		t.Fatalf("read issued refunds: %v", err)
	}
	return rs
}

// skippedOf reads the planned refunds a run skipped.
func skippedOf(t fatalT, res *reconcile.Result) []reconcile.Refund {
	t.Helper()
	rs, err := res.SkippedRefunds()
	if err != nil {
		t.Fatalf("read skipped refunds: %v", err)
	}
	return rs
}
