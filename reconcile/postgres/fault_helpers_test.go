package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"sort"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/connects/connects-reconciler/reconcile"
	"github.com/connects/connects-reconciler/reconcile/postgres"
	"github.com/connects/connects-reconciler/reconcile/postgres/pgtest"
	"github.com/connects/connects-reconciler/synth"
)

// faultAnchor is the seeded marketplaces' "now": two hours in the past, so
// that with a zero settle delay every event is settled and two databases
// seeded alike plan alike whenever they are run.
var faultAnchor = time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)

// faultDB is a seeded marketplace for a fault test.
type faultDB struct {
	t   testing.TB
	url string   // as the superuser the tests connect as
	db  *sqlx.DB // an administrative pool: not the job's
	// want is what one clean run writes: the dry plan's refunds before any
	// fault, keyed by proposal/component.
	want map[string]reconcile.Refund
}

// newFaultDB seeds a fresh database with proposals proposals, missing percent
// of the owed refunds left for the job, and records what a clean run writes.
func newFaultDB(t testing.TB, proposals int64, missing int) *faultDB {
	t.Helper()
	f := &faultDB{t: t, url: pgtest.NewURL(t)}
	f.db = sqlx.MustOpen("postgres", f.url)
	t.Cleanup(func() { f.db.Close() })
	ctx := context.Background()
	if _, err := synth.Seed(ctx, f.db, synth.SeedOptions{Seed: 6, Proposals: proposals, Anchor: faultAnchor,
		MissingPercent: missing}, zap.NewNop()); err != nil {
		t.Fatalf("seed: %v", err)
	}
	r := f.reconciler(f.open(f.url, postgres.Timeouts{}), zap.NewNop(), reconcile.Options{})
	plan, err := r.Plan(ctx)
	if err != nil {
		t.Fatalf("dry plan: %v", err)
	}
	f.want = map[string]reconcile.Refund{}
	for _, ref := range refundsOf(t, plan) {
		f.want[componentKey(ref.ProposalID, ref.Component)] = ref
	}
	if len(f.want) == 0 {
		t.Fatal("the seeded marketplace owes nothing: the test would prove nothing")
	}
	return f
}

func componentKey(proposal int64, c reconcile.Component) string {
	return fmt.Sprintf("%d/%s", proposal, c)
}

// open connects as the job does (postgres.Open: application_name, session
// timeouts), to dsn.
func (f *faultDB) open(dsn string, to postgres.Timeouts) *sqlx.DB {
	f.t.Helper()
	db, err := postgres.Open(context.Background(), dsn, to)
	if err != nil {
		f.t.Fatalf("open: %v", err)
	}
	f.t.Cleanup(func() { db.Close() })
	return db
}

// withHost returns the database's URL pointing at another address (a proxy).
func (f *faultDB) withHost(hostport string) string {
	u, err := url.Parse(f.url)
	if err != nil {
		f.t.Fatal(err)
	}
	u.Host = hostport
	return u.String()
}

// policy is the contract's, with no settle delay.
func faultPolicy() reconcile.Policy {
	p := reconcile.DefaultPolicy()
	p.SettleDelay = 0
	return p
}

// reconciler returns a job over db; zero options get small batches, three
// retries and a short backoff.
func (f *faultDB) reconciler(db *sqlx.DB, log *zap.Logger, o reconcile.Options) *reconcile.Reconciler {
	if o.BatchSize == 0 {
		o.BatchSize = 50000
	}
	if o.ApplyBatchSize == 0 {
		o.ApplyBatchSize = 10
	}
	if o.Retries == 0 {
		o.Retries = 3
	}
	if o.RetryBackoff == 0 {
		o.RetryBackoff = time.Millisecond
	}
	o.Full = true
	return &reconcile.Reconciler{Store: postgres.NewStore(db, log), Policy: faultPolicy(), Options: o, Log: log.Named("reconcile")}
}

// retryLog is a test logger that also counts the run loop's retries.
type retryLog struct {
	*zap.Logger
	logs *observer.ObservedLogs
}

func newRetryLog(t testing.TB) retryLog {
	core, logs := observer.New(zapcore.WarnLevel)
	return retryLog{zap.New(zapcore.NewTee(zaptest.NewLogger(t, zaptest.Level(zapcore.WarnLevel)).Core(), core)), logs}
}

// retries is how many times a batch or read was retried so far.
func (l retryLog) retries() int {
	return l.logs.FilterMessage("retrying after transient error").Len()
}

// runID returns a fresh run id.
func runID(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// ledgerRefund is one refund entry as it stands in the ledger.
type ledgerRefund struct {
	ProposalID   int64  `db:"proposal_id"`
	Component    string `db:"component"`
	Amount       int64  `db:"amount"`
	FreelancerID int64  `db:"freelancer_id"`
	Key          string `db:"idempotency_key"`
}

// jobRefunds returns the refunds written under the job's keys, by
// proposal/component.
func (f *faultDB) jobRefunds() map[string]ledgerRefund {
	f.t.Helper()
	var rows []ledgerRefund
	if err := f.db.Select(&rows, `SELECT proposal_id, component, amount, freelancer_id, idempotency_key
	    FROM connects_ledger WHERE entry_type = 'refund' AND idempotency_key LIKE 'refund:%'`); err != nil {
		f.t.Fatal(err)
	}
	out := map[string]ledgerRefund{}
	for _, r := range rows {
		out[fmt.Sprintf("%d/%s", r.ProposalID, r.Component)] = r
	}
	return out
}

// checkInvariants fails the test unless the ledger keeps the contract's
// promises whatever happened: no component refunded twice, every balance
// equal to its ledger sum, every refund the job wrote audited once by a
// recorded run whose counters match its audit rows.
func (f *faultDB) checkInvariants() {
	f.t.Helper()
	var doubled, badBalances, unaudited, badCounters []string
	f.sel(&doubled, `SELECT proposal_id || '/' || component FROM connects_ledger WHERE entry_type = 'refund'
	    GROUP BY proposal_id, component HAVING count(*) > 1`)
	f.sel(&badBalances, `
	    SELECT format('%s: balance %s, ledger %s', coalesce(b.freelancer_id, l.freelancer_id), b.balance, l.total)
	    FROM connects_balances b
	    FULL JOIN (SELECT freelancer_id, sum(amount) AS total FROM connects_ledger GROUP BY freelancer_id) l
	      ON l.freelancer_id = b.freelancer_id
	    WHERE b.balance IS DISTINCT FROM l.total`)
	f.sel(&unaudited, `SELECT l.idempotency_key FROM connects_ledger l
	    LEFT JOIN reconciler_refunds a ON a.ledger_entry_id = l.id
	    WHERE l.idempotency_key LIKE 'refund:%' AND a.ledger_entry_id IS NULL`)
	f.sel(&badCounters, `SELECT format('%s: issued %s/%s, audit %s/%s', r.id, r.refunds_issued, r.connects_issued, count(a.*), coalesce(sum(a.connects), 0))
	    FROM reconciler_runs r LEFT JOIN reconciler_refunds a ON a.run_id = r.id
	    GROUP BY r.id HAVING r.refunds_issued <> count(a.*) OR r.connects_issued <> coalesce(sum(a.connects), 0)`)
	for what, bad := range map[string][]string{"components refunded twice": doubled,
		"balances differ from their ledger sums": badBalances, "job refunds without an audit row": unaudited,
		"run counters differ from their audit rows": badCounters} {
		if len(bad) > 0 {
			f.t.Errorf("%s: %v", what, bad)
		}
	}
}

// checkComplete fails the test unless every refund a clean run writes is in
// the ledger exactly as it would be (key, amount, account), under the job's
// key or, with online set, the online path's.
func (f *faultDB) checkComplete(online bool) {
	f.t.Helper()
	f.checkInvariants()
	var rows []ledgerRefund
	f.sel(&rows, `SELECT proposal_id, component, amount, freelancer_id, idempotency_key
	    FROM connects_ledger WHERE entry_type = 'refund' AND (idempotency_key LIKE 'refund:%' OR idempotency_key LIKE 'test-online:%')`)
	got := map[string]ledgerRefund{}
	for _, r := range rows {
		if !online && r.Key != fmt.Sprintf("refund:%d:%s", r.ProposalID, r.Component) {
			f.t.Errorf("refund under an unexpected key: %+v", r)
		}
		got[fmt.Sprintf("%d/%s", r.ProposalID, r.Component)] = r
	}
	var missing, wrong []string
	for k, w := range f.want {
		g, ok := got[k]
		switch {
		case !ok:
			missing = append(missing, k)
		case g.Amount != w.Connects() || g.FreelancerID != w.FreelancerID:
			wrong = append(wrong, fmt.Sprintf("%s: got %d@%d, want %d@%d", k, g.Amount, g.FreelancerID, w.Connects(), w.FreelancerID))
		}
		delete(got, k)
	}
	var extra []string
	for k := range got {
		extra = append(extra, k)
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(wrong) > 0 || len(extra) > 0 {
		f.t.Errorf("ledger differs from one clean run: %d missing %v, %d wrong %v, %d not planned %v",
			len(missing), head(missing), len(wrong), head(wrong), len(extra), head(extra))
	}
	var running []string
	f.sel(&running, `SELECT id FROM reconciler_runs WHERE status = 'running'`)
	if len(running) > 0 {
		f.t.Errorf("runs still recorded as running after the last run: %v", running)
	}
}

func head(s []string) []string { return s[:min(len(s), 5)] }

func (f *faultDB) sel(dest any, q string, args ...any) {
	f.t.Helper()
	if err := f.db.Select(dest, q, args...); err != nil {
		f.t.Fatalf("%s: %v", q, err)
	}
}

// run is a run's record.
type runRecord struct {
	ID       string  `db:"id"`
	Status   string  `db:"status"`
	Issued   int64   `db:"refunds_issued"`
	Skipped  int64   `db:"refunds_skipped"`
	Error    *string `db:"error"`
	Finished bool    `db:"finished"`
}

func (f *faultDB) record(id string) runRecord {
	f.t.Helper()
	var r runRecord
	if err := f.db.Get(&r, `SELECT id, status, refunds_issued, refunds_skipped, error, finished_at IS NOT NULL AS finished
	    FROM reconciler_runs WHERE id = $1`, id); err != nil {
		f.t.Fatalf("run %s: %v", id, err)
	}
	return r
}

// waitApplying waits until run id has recorded itself and written at least
// one batch, or the run has ended (done closed).
func (f *faultDB) waitApplying(id string, done <-chan struct{}) bool {
	f.t.Helper()
	for {
		var issued int64
		err := f.db.Get(&issued, `SELECT refunds_issued FROM reconciler_runs WHERE id = $1`, id)
		if err == nil && issued > 0 {
			return true
		}
		select {
		case <-done:
			return false
		case <-time.After(2 * time.Millisecond):
		}
	}
}
