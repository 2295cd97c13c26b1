package synth_test

// The seed tests live in package synth_test, beside the other packages'
// tests that use the seed.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"go.uber.org/zap/zaptest"

	"github.com/connects/connects-reconciler/reconcile"
	"github.com/connects/connects-reconciler/reconcile/postgres"
	"github.com/connects/connects-reconciler/reconcile/postgres/pgtest"
	"github.com/connects/connects-reconciler/synth"
)

var seedAnchor = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// seedTables are the tables Seed writes, each with its ordering key.
var seedTables = []struct{ name, key string }{
	{"jobs", "id"},
	{"proposals", "id"},
	{"boost_auctions", "job_id"},
	{"boost_bids", "proposal_id"},
	{"proposal_interactions", "id"},
	{"connects_ledger", "id"},
	{"connects_balances", "freelancer_id"},
}

// digest returns each seeded table's row count and the md5 of its rows in
// key order, timestamps rendered in UTC.
func digest(t *testing.T, db *sqlx.DB) map[string]string {
	t.Helper()
	ctx := context.Background()
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "SET LOCAL TimeZone = 'UTC'"); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, tb := range seedTables {
		var d string
		q := fmt.Sprintf(`SELECT count(*) || ' ' || coalesce(md5(string_agg(t::text, E'\n' ORDER BY t.%s)), '') FROM %s t`, tb.key, tb.name)
		if err := tx.GetContext(ctx, &d, q); err != nil {
			t.Fatalf("digest %s: %v", tb.name, err)
		}
		out[tb.name] = d
	}
	return out
}

// alterDatabase changes a setting for the database's new sessions and drops
// the pool's idle connections so that the next statement uses one.
func alterDatabase(t *testing.T, db *sqlx.DB, settings ...string) {
	t.Helper()
	var name string
	if err := db.Get(&name, "SELECT current_database()"); err != nil {
		t.Fatal(err)
	}
	for _, s := range settings {
		if _, err := db.Exec(fmt.Sprintf("ALTER DATABASE %q SET %s", name, s)); err != nil {
			t.Fatal(err)
		}
	}
	db.SetMaxIdleConns(0)
	db.SetMaxIdleConns(2)
}

func seedOptions() synth.SeedOptions {
	return synth.SeedOptions{Seed: 7, Proposals: 20000, Anchor: seedAnchor, MissingPercent: synth.DefaultMissingPercent}
}

func TestSeedIsDeterministic(t *testing.T) {
	ctx := context.Background()
	log := zaptest.NewLogger(t)
	db1, db2 := pgtest.NewDB(t), pgtest.NewDB(t)
	// Different plans and session settings must not change a row: no
	// parallel query on one side, parallel plans wherever possible and
	// another time zone on the other.
	alterDatabase(t, db1, "max_parallel_workers_per_gather = 0")
	alterDatabase(t, db2, "parallel_setup_cost = 0", "parallel_tuple_cost = 0", "min_parallel_table_scan_size = 0",
		"TimeZone = 'America/New_York'")

	st1, err := synth.Seed(ctx, db1, seedOptions(), log)
	if err != nil {
		t.Fatal(err)
	}
	st2, err := synth.Seed(ctx, db2, seedOptions(), log)
	if err != nil {
		t.Fatal(err)
	}
	st1.TookMS, st2.TookMS = 0, 0
	if st1 != st2 {
		t.Fatalf("same seed, different stats:\n%+v\n%+v", st1, st2)
	}
	d1, d2 := digest(t, db1), digest(t, db2)
	for _, tb := range seedTables {
		if d1[tb.name] != d2[tb.name] {
			t.Errorf("%s differs: %s vs %s", tb.name, d1[tb.name], d2[tb.name])
		}
	}

	// Another seed is another marketplace.
	other := seedOptions()
	other.Seed = 8
	if _, err := synth.Seed(ctx, db2, withForce(other), log); err != nil {
		t.Fatal(err)
	}
	if d := digest(t, db2); d["proposals"] == d1["proposals"] || d["connects_ledger"] == d1["connects_ledger"] {
		t.Errorf("seeds 7 and 8 gave the same rows")
	}

	// Without --force a seeded database is refused, and nothing changes.
	_, err = synth.Seed(ctx, db1, seedOptions(), log)
	if !errors.Is(err, synth.ErrNotEmpty) {
		t.Fatalf("seeding a seeded database: %v, want ErrNotEmpty", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "jobs") || !strings.Contains(msg, "--force") {
		t.Errorf("the refusal should name the table and --force: %q", msg)
	}
	if d := digest(t, db1); d["connects_ledger"] != d1["connects_ledger"] {
		t.Errorf("a refused seed changed the ledger")
	}

	// With --force the job's tables are emptied too, and the same seed gives
	// the same rows again (identities restart).
	if _, err := db2.Exec(`INSERT INTO reconciler_runs (id, mode, scope, status, as_of, settle_cutoff, policy)
	                       VALUES ('r1', 'run', 'full', 'succeeded', now(), now(), '{}')`); err != nil {
		t.Fatal(err)
	}
	if _, err := synth.Seed(ctx, db2, withForce(seedOptions()), log); err != nil {
		t.Fatal(err)
	}
	if d := digest(t, db2); fmt.Sprint(d) != fmt.Sprint(d1) {
		t.Errorf("re-seeding with --force gave other rows:\n%v\n%v", d, d1)
	}
	var runs int
	if err := db2.Get(&runs, "SELECT count(*) FROM reconciler_runs"); err != nil || runs != 0 {
		t.Errorf("--force left %d run records (%v)", runs, err)
	}

	// The identity sequences start after the seeded ids.
	if _, err := db2.Exec(`INSERT INTO connects_ledger (freelancer_id, amount, entry_type, idempotency_key)
	                       VALUES (1, 10, 'grant', 'test:after-seed')`); err != nil {
		t.Errorf("a ledger row after the seed: %v", err)
	}
	if _, err := db2.Exec(`INSERT INTO proposal_interactions (proposal_id, kind, occurred_at) VALUES (1, 'opened', now())`); err != nil {
		t.Errorf("an interaction after the seed: %v", err)
	}
}

func withForce(o synth.SeedOptions) synth.SeedOptions {
	o.Force = true
	return o
}

func TestSeedMarketplace(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	o := seedOptions()
	st, err := synth.Seed(ctx, db, o, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", st)

	count := func(q string, args ...any) int64 {
		t.Helper()
		var n int64
		if err := db.Get(&n, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	near := func(what string, got, want, tolerance float64) {
		t.Helper()
		if got < want-tolerance || got > want+tolerance {
			t.Errorf("%s = %.3f, want %.3f ± %.3f", what, got, want, tolerance)
		}
	}

	if st.Proposals != o.Proposals || count("SELECT count(*) FROM proposals") != o.Proposals {
		t.Fatalf("proposals: stats %d, want %d", st.Proposals, o.Proposals)
	}
	if got := count("SELECT count(*) FROM connects_ledger"); got != st.LedgerEntries {
		t.Errorf("ledger rows %d, stats say %d", got, st.LedgerEntries)
	}
	if got := count("SELECT count(*) FROM proposal_interactions"); got != st.Interactions {
		t.Errorf("interactions %d, stats say %d", got, st.Interactions)
	}

	// Every balance is its ledger sum, and positive.
	if n := count(`SELECT count(*) FROM connects_balances b
	               FULL JOIN (SELECT freelancer_id, sum(amount) AS s FROM connects_ledger GROUP BY freelancer_id) l
	                 USING (freelancer_id)
	               WHERE b.balance IS DISTINCT FROM l.s`); n != 0 {
		t.Errorf("%d balances differ from their ledger sums", n)
	}
	if n := count("SELECT count(*) FROM connects_balances WHERE balance <= 0"); n != 0 {
		t.Errorf("%d balances are not positive", n)
	}

	// The shape.
	jobs := float64(st.Jobs)
	near("proposals per job", float64(st.Proposals)/jobs, 15, 1)
	near("freelancers per proposal", float64(st.Freelancers)/float64(st.Proposals), 1.0/8, 0.001)
	share := func(where string) float64 {
		return float64(count("SELECT count(*) FROM jobs WHERE "+where)) / jobs
	}
	near("open", share("status = 'open'"), 0.34, 0.03)
	near("hired", share("close_reason = 'hired'"), 0.31, 0.03)
	near("no_hire", share("close_reason = 'no_hire'"), 0.14, 0.025)
	near("expired", share("close_reason = 'expired'"), 0.10, 0.02)
	near("inactivity", share("close_reason = 'inactivity'"), 0.08, 0.02)
	near("tos_violation", share("status = 'removed' AND close_reason = 'tos_violation'"), 0.03, 0.012)
	near("boosted", float64(st.BoostAuctions)/jobs, 0.25, 0.03)
	if n := count("SELECT count(*) FROM jobs WHERE (status = 'open') <> (closed_at IS NULL OR close_reason IS NULL)"); n != 0 {
		t.Errorf("%d jobs have a status that disagrees with closed_at/close_reason", n)
	}
	recent := count("SELECT count(*) FROM jobs WHERE closed_at > $1::timestamptz - interval '10 minutes'", seedAnchor)
	if recent < 12 || recent > 60 {
		t.Errorf("%d jobs closed in the last 10 minutes, want a few dozen", recent)
	}
	if n := count("SELECT count(*) FROM jobs WHERE closed_at >= $1", seedAnchor); n != 0 {
		t.Errorf("%d jobs closed at or after the anchor", n)
	}
	p := float64(st.Proposals)
	near("withdrawn", float64(count("SELECT count(*) FROM proposals WHERE withdrawn_at IS NOT NULL"))/p, 0.05, 0.01)
	near("invitations", float64(count(`SELECT count(*) FROM proposals p WHERE NOT EXISTS
	        (SELECT 1 FROM connects_ledger l WHERE l.proposal_id = p.id AND l.entry_type = 'proposal_fee')`))/p, 0.04, 0.01)
	if n := count(`SELECT count(*) FROM proposals p JOIN jobs j ON j.id = p.job_id
	               WHERE p.submitted_at >= coalesce(j.closed_at, $1) OR p.withdrawn_at >= $1
	                  OR p.withdrawn_at < p.submitted_at`, seedAnchor); n != 0 {
		t.Errorf("%d proposals submitted after their job's close or the anchor, or withdrawn out of order", n)
	}
	if n := count(`SELECT count(*) FROM connects_ledger WHERE entry_type = 'proposal_fee' AND amount NOT BETWEEN -16 AND -2
	               OR entry_type = 'boost_fee' AND amount NOT BETWEEN -25 AND -1`); n != 0 {
		t.Errorf("%d fees out of range", n)
	}
	changed := count(`SELECT count(*) FROM (SELECT p.job_id FROM connects_ledger l JOIN proposals p ON p.id = l.proposal_id
	                  WHERE l.entry_type = 'proposal_fee' GROUP BY p.job_id HAVING count(DISTINCT l.amount) > 1) s`)
	if changed == 0 || float64(changed)/jobs > 0.05 {
		t.Errorf("%d jobs charged two requirements, want a few percent", changed)
	}

	// Bids and auctions.
	if n := count(`SELECT count(*) FROM boost_bids b JOIN proposals p ON p.id = b.proposal_id
	               JOIN boost_auctions a ON a.job_id = p.job_id
	               WHERE (b.outcome = 'outbid') <> (b.outbid_at IS NOT NULL)
	                  OR b.outbid_at <= p.submitted_at OR b.outbid_at >= coalesce(a.ended_at, $1)
	                  OR (a.ended_at IS NULL AND b.outcome = 'won')
	                  OR (a.ended_at IS NOT NULL AND b.outcome IS NULL)`, seedAnchor); n != 0 {
		t.Errorf("%d bids are inconsistent with their auction", n)
	}
	ended := float64(count(`SELECT count(*) FROM boost_bids b JOIN proposals p ON p.id = b.proposal_id
	                        JOIN boost_auctions a ON a.job_id = p.job_id WHERE a.ended_at IS NOT NULL`))
	near("won among ended", float64(count(`SELECT count(*) FROM boost_bids WHERE outcome = 'won'`))/ended, 0.4, 0.06)
	if n := count("SELECT count(*) FROM boost_bids b WHERE NOT EXISTS (SELECT 1 FROM connects_ledger l WHERE l.proposal_id = b.proposal_id AND l.entry_type = 'boost_fee')"); n == 0 {
		t.Errorf("no placebo bids (bids without a boost fee)")
	}
	if n := count("SELECT count(*) FROM boost_auctions WHERE ended_at IS NULL"); n == 0 {
		t.Errorf("no running auctions")
	}

	// Interactions.
	atOutbid := float64(count(`SELECT count(*) FROM proposal_interactions i JOIN boost_bids b ON b.proposal_id = i.proposal_id
	                           WHERE i.occurred_at = b.outbid_at`)) / float64(st.Interactions)
	near("interactions exactly at outbid_at", atOutbid, 0.005, 0.004)
	if n := count(`SELECT count(*) FROM proposal_interactions i JOIN proposals p ON p.id = i.proposal_id
	               WHERE i.occurred_at < p.submitted_at OR i.occurred_at >= $1`, seedAnchor); n != 0 {
		t.Errorf("%d interactions before their submission or after the anchor", n)
	}
	if n := count(`SELECT count(*) FROM proposal_interactions i JOIN proposals p ON p.id = i.proposal_id
	               JOIN jobs j ON j.id = p.job_id WHERE i.kind = 'offer_sent' AND j.close_reason IS DISTINCT FROM 'hired'`); n != 0 {
		t.Errorf("%d offers on jobs that did not hire", n)
	}

	// The ledger: fees charged to the proposal's freelancer, refunds online
	// shortly after their event and never after the anchor.
	if n := count(`SELECT count(*) FROM connects_ledger l JOIN proposals p ON p.id = l.proposal_id
	               WHERE l.freelancer_id <> p.freelancer_id
	                  OR (l.entry_type = 'proposal_fee') <> (l.component = 'base' AND l.idempotency_key = 'fee:' || p.id || ':base')
	                     AND l.entry_type <> 'refund'
	                  OR l.entry_type = 'refund' AND l.idempotency_key <> 'online:' || p.id || ':' || l.component
	                  OR l.created_at >= $1`, seedAnchor); n != 0 {
		t.Errorf("%d proposal ledger rows are malformed", n)
	}

	// The policy, evaluated by the job's own plan statement, finds exactly the
	// refunds the seed left missing and the discrepancies it planted.
	cutoff := seedAnchor.AddDate(1, 0, 0) // everything settled
	store := postgres.NewStore(db, zaptest.NewLogger(t))
	found, err := store.PlanSlice(ctx, reconcile.DefaultPolicy(), cutoff, reconcile.Shard{},
		reconcile.Slice{Lo: 1, Hi: st.Proposals + 1}, false)
	if err != nil {
		t.Fatal(err)
	}
	classes := map[reconcile.State]int64{}
	for _, f := range found {
		classes[f.State]++
	}
	want := map[reconcile.State]int64{
		reconcile.MissingRefund:    st.MissingRefunds,
		reconcile.AmountMismatch:   st.AmountMismatches,
		reconcile.UnexpectedRefund: st.UnexpectedRefunds,
	}
	if fmt.Sprint(classes) != fmt.Sprint(want) {
		t.Errorf("the policy finds %v, the seed says %v", classes, want)
	}
	if st.AmountMismatches != o.Proposals/2000 || st.UnexpectedRefunds != o.Proposals/2000 {
		t.Errorf("planted %d amount mismatches and %d unexpected refunds, want %d each",
			st.AmountMismatches, st.UnexpectedRefunds, o.Proposals/2000)
	}
	near("missing share of owed refunds", float64(st.MissingRefunds)/float64(st.RefundsOwed),
		float64(o.MissingPercent)/100, 0.015)
	if st.RefundsOwed < o.Proposals/10 {
		t.Errorf("only %d refunds owed for %d proposals", st.RefundsOwed, o.Proposals)
	}
	if st.OnlineRefunds != st.RefundsOwed-st.MissingRefunds+st.UnexpectedRefunds {
		t.Errorf("online refunds %d, want owed %d - missing %d + unexpected %d",
			st.OnlineRefunds, st.RefundsOwed, st.MissingRefunds, st.UnexpectedRefunds)
	}
	// Every rule is exercised.
	rules := map[reconcile.Rule]int{}
	for _, f := range found {
		if f.State == reconcile.MissingRefund {
			rules[f.Rule]++
		}
	}
	for _, r := range reconcile.Rules {
		if rules[r] == 0 {
			t.Errorf("no missing refund under rule %s", r)
		}
	}

	// Inside the settle delay: recent closes make some owed refunds pending.
	settle := seedAnchor.Add(-reconcile.DefaultPolicy().SettleDelay)
	found, err = store.PlanSlice(ctx, reconcile.DefaultPolicy(), settle, reconcile.Shard{},
		reconcile.Slice{Lo: 1, Hi: st.Proposals + 1}, false)
	if err != nil {
		t.Fatal(err)
	}
	var pending, refund int64
	for _, f := range found {
		switch f.State {
		case reconcile.PendingRefund:
			pending++
		case reconcile.MissingRefund:
			refund++
		}
	}
	if pending+refund != st.MissingRefunds {
		t.Errorf("inside the settle delay: %d pending + %d refunds, want the %d missing", pending, refund, st.MissingRefunds)
	}
	t.Logf("%d of %d missing refunds are inside the settle delay", pending, st.MissingRefunds)
}

func TestSeedRejectsBadOptions(t *testing.T) {
	db := pgtest.NewDB(t)
	log := zaptest.NewLogger(t)
	for _, o := range []synth.SeedOptions{
		{Proposals: 0, MissingPercent: 5},
		{Proposals: 10, MissingPercent: -1},
		{Proposals: 10, MissingPercent: 101},
	} {
		if _, err := synth.Seed(context.Background(), db, o, log); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
	// Tiny marketplaces work, with the database's clock as the anchor.
	for _, n := range []int64{1, 2, 29, 999, 1000} {
		st, err := synth.Seed(context.Background(), db, synth.SeedOptions{Seed: n, Proposals: n, Force: true}, log)
		if err != nil {
			t.Fatalf("%d proposals: %v", n, err)
		}
		if st.Proposals != n || st.Anchor.IsZero() {
			t.Errorf("%d proposals: %+v", n, st)
		}
		want := int64(0)
		if n >= 1000 {
			want = 1
		}
		if st.AmountMismatches != want || st.UnexpectedRefunds != want {
			t.Errorf("%d proposals: planted %d and %d discrepancies, want %d each", n, st.AmountMismatches, st.UnexpectedRefunds, want)
		}
	}
}
