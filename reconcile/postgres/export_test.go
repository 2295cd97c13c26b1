package postgres_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/connects/connects-reconciler/reconcile"
	"github.com/connects/connects-reconciler/reconcile/postgres"
	"github.com/connects/connects-reconciler/synth"
)

func exportAll(t *testing.T, s *postgres.Store, from, to time.Time) []reconcile.LedgerRefund {
	t.Helper()
	var out []reconcile.LedgerRefund
	if err := s.Refunds(context.Background(), from, to, func(r reconcile.LedgerRefund) error {
		out = append(out, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// The export names who issued each refund and the rule behind it, from its
// match: the job's own refunds with their run, online ones with the rule the
// policy assigned when a run first saw them settled, or none, with the
// verdict; an entry no run matched yet says so. The period is half-open and
// rows come in created_at, id order.
func TestExportRefundRows(t *testing.T) {
	t.Parallel()
	m := newMarket(t)
	m.job(1, "closed", "no_hire", ago(3*h))
	m.proposal(10, 1, 100, nil)
	m.fee(100, 10, "base", 4)
	m.proposal(11, 1, 101, nil)
	m.fee(101, 11, "base", 5)
	m.entry(101, 5, "refund", 11, "base", "online:11:base") // entitled: closed_without_hire
	m.job(2, "closed", "hired", ago(3*h))
	m.proposal(20, 2, 102, nil)
	m.fee(102, 20, "base", 6)
	m.entry(102, 6, "refund", 20, "base", "online:20:base") // no rule: unexpected
	m.proposal(21, 2, 103, nil)
	m.entry(103, 2, "refund", 21, "boost", "online:21:boost") // nothing charged: no rule
	m.entry(104, 50, "grant", 0, "", "")                      // never a refund

	// Times: the online refunds an hour apart, settled; the job's refund now.
	m.exec(`UPDATE connects_ledger SET created_at = $1 WHERE idempotency_key = 'online:11:base'`, m.now.Add(-2*h))
	m.exec(`UPDATE connects_ledger SET created_at = $1 WHERE idempotency_key = 'online:20:base'`, m.now.Add(-h))
	m.exec(`UPDATE connects_ledger SET created_at = $1 WHERE idempotency_key = 'online:21:boost'`, m.now.Add(-h))

	r := m.reconciler(reconcile.DefaultPolicy())
	if _, err := r.Run(context.Background(), "run-a"); err != nil {
		t.Fatal(err)
	}
	// written after the run: not matched yet
	m.job(3, "closed", "no_hire", ago(3*h))
	m.proposal(30, 3, 104, nil)
	m.fee(104, 30, "base", 7)
	m.entry(104, 7, "refund", 30, "base", "online:30:base")

	store := r.Store.(*postgres.Store)
	rows := exportAll(t, store, m.now.Add(-2*h), time.Now().Add(time.Hour))
	type row struct {
		key, issuedBy string
		rule          reconcile.Rule
		runID         string
		job, connects int64
		verdict       string
	}
	want := []row{
		{"online:11:base", "online", reconcile.RuleClosedWithoutHire, "", 1, 5, "refunded"},
		{"online:20:base", "online", "", "", 2, 6, "unexpected_refund"},
		{"online:21:boost", "online", "", "", 2, 2, "unexpected_refund"},
		{"refund:10:base", "reconciler", reconcile.RuleClosedWithoutHire, "run-a", 1, 4, "refunded"},
		{"online:30:base", "online", "", "", 3, 7, reconcile.Unmatched},
	}
	if len(rows) != len(want) {
		t.Fatalf("got %d rows %+v, want %d", len(rows), rows, len(want))
	}
	for i, w := range want {
		g := rows[i]
		got := row{g.IdempotencyKey, g.IssuedBy, g.Rule, g.RunID, g.JobID, g.Connects, g.Verdict}
		if got != w {
			t.Errorf("row %d: got %+v, want %+v", i, got, w)
		}
		if g.CreatedAt.Location() != time.UTC {
			t.Errorf("row %d: created_at %v not in UTC", i, g.CreatedAt)
		}
	}
	if rows[1].EntryID > rows[2].EntryID || !rows[1].CreatedAt.Equal(rows[2].CreatedAt) {
		t.Errorf("rows at the same time must come in entry id order: %d, %d", rows[1].EntryID, rows[2].EntryID)
	}
	// Half-open: a period ending at a refund's time leaves it out.
	if got := exportAll(t, store, m.now.Add(-3*h), m.now.Add(-h)); len(got) != 1 || got[0].IdempotencyKey != "online:11:base" {
		t.Errorf("[now-3h, now-1h): got %+v, want online:11:base only", got)
	}
}

// The tie-out on a seeded marketplace: the export's totals equal the
// ledger's refund sums for the period, and every refund a run wrote appears
// in the next export as the job's, with the run's id and rule.
func TestExportTiesOutOnSeededMarket(t *testing.T) {
	t.Parallel()
	m := newMarket(t)
	ctx := context.Background()
	log := zaptest.NewLogger(t)
	anchor := time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)
	if _, err := synth.Seed(ctx, m.db, synth.SeedOptions{Seed: 7, Proposals: 3000, Anchor: anchor, MissingPercent: 20}, log); err != nil {
		t.Fatal(err)
	}
	r := m.reconciler(reconcile.DefaultPolicy())
	r.Options.BatchSize = 1000
	r.Options.ApplyBatchSize = 100
	res, err := r.Run(ctx, "tie-out")
	if err != nil {
		t.Fatal(err)
	}
	issued := issuedOf(t, res)
	if len(issued) == 0 {
		t.Fatal("the run wrote nothing; the seed should leave refunds missing")
	}
	store := r.Store.(*postgres.Store)
	from, to := anchor.AddDate(0, -3, 0), time.Now().Add(time.Hour)

	var n, connects, reconciler int64
	byEntry := map[int64]reconcile.LedgerRefund{}
	var last reconcile.LedgerRefund
	err = store.Refunds(ctx, from, to, func(x reconcile.LedgerRefund) error {
		if n > 0 && (x.CreatedAt.Before(last.CreatedAt) || x.CreatedAt.Equal(last.CreatedAt) && x.EntryID <= last.EntryID) {
			t.Errorf("row %d (entry %d) out of created_at, id order", n, x.EntryID)
		}
		last = x
		n++
		connects += x.Connects
		if x.IssuedBy == "reconciler" {
			reconciler++
			byEntry[x.EntryID] = x
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var ledger struct {
		N        int64 `db:"n"`
		Connects int64 `db:"connects"`
	}
	if err := m.db.Get(&ledger, `SELECT count(*) AS n, coalesce(sum(amount), 0) AS connects FROM connects_ledger
	    WHERE entry_type = 'refund' AND created_at >= $1 AND created_at < $2`, from, to); err != nil {
		t.Fatal(err)
	}
	if n != ledger.N || connects != ledger.Connects {
		t.Errorf("export: %d refunds, %d Connects; ledger: %d, %d", n, connects, ledger.N, ledger.Connects)
	}
	if reconciler != int64(len(issued)) {
		t.Errorf("export has %d refunds by the job, the run wrote %d", reconciler, len(issued))
	}
	for _, w := range issued {
		x, ok := byEntry[w.LedgerEntryID]
		if !ok {
			t.Errorf("refund %s written by the run is not in the export", w.IdempotencyKey())
			continue
		}
		if x.RunID != "tie-out" || x.Rule != w.Rule || x.Connects != w.Connects() || x.IdempotencyKey != w.IdempotencyKey() {
			t.Errorf("entry %d: export %+v, run wrote %+v", w.LedgerEntryID, x, w)
		}
	}
}

func TestRunsInPeriod(t *testing.T) {
	t.Parallel()
	m := newMarket(t)
	m.job(1, "closed", "no_hire", ago(3*h))
	m.proposal(10, 1, 100, nil)
	m.fee(100, 10, "base", 4)
	r := m.reconciler(reconcile.DefaultPolicy())
	for _, id := range []string{"r1", "r2"} {
		if _, err := r.Run(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	runs, err := r.Store.(*postgres.Store).Runs(context.Background(), m.now.Add(-h), time.Now().Add(h))
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].ID != "r1" || runs[0].RefundsIssued != 1 || runs[0].ConnectsIssued != 4 ||
		runs[1].RefundsIssued != 0 || runs[1].Status != reconcile.StatusSucceeded || runs[1].FinishedAt == nil {
		t.Errorf("runs: got %+v", runs)
	}
}

// groupsOf sums export rows as report_refund_totals.sql sums them.
func groupsOf(rows []reconcile.LedgerRefund) map[reconcile.RefundGroup]int64 {
	out := map[reconcile.RefundGroup]int64{}
	for _, r := range rows {
		day := r.CreatedAt.Unix() / 86400 // every time here is after 1970
		out[reconcile.RefundGroup{Day: day, Rule: r.Rule, Component: r.Component, IssuedBy: r.IssuedBy,
			Unmatched: r.Verdict == reconcile.Unmatched, Connects: r.Connects}]++
	}
	return out
}

// The finance report's totals are the refunds export's rows summed, in the
// database: for an open period (with an entry no run matched yet), a closed
// period (its recorded entries, not the late one created under it since),
// and the open period after it (carrying that late entry as an adjustment).
func TestRefundTotalsAreTheExportSummed(t *testing.T) {
	t.Parallel()
	m := newMarket(t)
	ctx := context.Background()
	anchor := time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)
	if _, err := synth.Seed(ctx, m.db, synth.SeedOptions{Seed: 7, Proposals: 3000, Anchor: anchor, MissingPercent: 20}, zaptest.NewLogger(t)); err != nil {
		t.Fatal(err)
	}
	r := m.reconciler(reconcile.DefaultPolicy())
	r.Options.Full = true
	if _, err := r.Run(ctx, "run-a"); err != nil {
		t.Fatal(err)
	}
	store := r.Store.(*postgres.Store)
	// an entry no run matched yet, and one without a proposal
	var free []int64
	if err := m.db.Select(&free, `SELECT p.id FROM proposals p WHERE NOT EXISTS
	    (SELECT 1 FROM connects_ledger l WHERE l.proposal_id = p.id AND l.entry_type = 'refund') ORDER BY p.id LIMIT 2`); err != nil || len(free) < 2 {
		t.Fatalf("proposals without a refund: %v (%v)", free, err)
	}
	m.exec(`INSERT INTO connects_ledger (freelancer_id, amount, entry_type, proposal_id, component, idempotency_key, created_at)
	    SELECT freelancer_id, 3, 'refund', id, 'base', 'late:' || id, '2026-09-20T10:00:00Z' FROM proposals WHERE id = $1`, free[0])

	check := func(name string, from, to time.Time, wantRows int64) {
		t.Helper()
		rows := exportAll(t, store, from, to)
		if wantRows >= 0 && int64(len(rows)) != wantRows {
			t.Errorf("%s: the export has %d rows, want %d", name, len(rows), wantRows)
		}
		want := groupsOf(rows)
		groups, err := store.RefundTotals(ctx, from, to)
		if err != nil {
			t.Fatal(err)
		}
		got := map[reconcile.RefundGroup]int64{}
		var n int64
		for _, g := range groups {
			k := g
			k.Refunds = 0
			if _, dup := got[k]; dup {
				t.Errorf("%s: group %+v twice", name, k)
			}
			got[k] = g.Refunds
			n += g.Refunds
		}
		if n != int64(len(rows)) || len(got) != len(want) {
			t.Errorf("%s: the totals hold %d entries in %d groups, the export %d rows in %d groups", name, n, len(got), len(rows), len(want))
		}
		unmatched := false
		for k, c := range want {
			if got[k] != c {
				t.Errorf("%s: group %+v: %d in the totals, %d in the export", name, k, got[k], c)
			}
			unmatched = unmatched || k.Unmatched
		}
		if len(rows) == 0 {
			t.Errorf("%s: no rows: nothing compared", name)
		}
		t.Logf("%s: %d rows in %d groups (an unmatched one: %v)", name, len(rows), len(got), unmatched)
	}
	july, closeAt, later := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 10, 2, 0, 0, 0, 0, time.UTC), time.Now().Add(time.Hour)
	check("open, an entry not matched yet", july, later, -1)

	// Matched, the period closes; then a refund is created late under it.
	if _, err := r.Run(ctx, "run-b"); err != nil {
		t.Fatal(err)
	}
	var closedRows int64
	if _, err := store.ClosePeriod(ctx, july, closeAt, "ana", reconcile.DefaultPrice,
		func(each func(fn func(reconcile.LedgerRefund) error) error) (reconcile.PeriodDigest, error) {
			var d reconcile.PeriodDigest
			err := each(func(x reconcile.LedgerRefund) error { d.Rows++; d.Connects += x.Connects; return nil })
			d.SHA256 = "test"
			closedRows = d.Rows
			return d, err
		}); err != nil {
		t.Fatal(err)
	}
	m.exec(`INSERT INTO connects_ledger (freelancer_id, amount, entry_type, proposal_id, component, idempotency_key, created_at)
	    SELECT freelancer_id, 4, 'refund', id, 'base', 'late:' || id, '2026-09-21T10:00:00Z' FROM proposals WHERE id = $1`, free[1])
	if _, err := r.Run(ctx, "run-c"); err != nil {
		t.Fatal(err)
	}
	check("closed", july, closeAt, closedRows)
	rows := exportAll(t, store, closeAt, later)
	adjustments := 0
	for _, x := range rows {
		if x.AdjustsPeriod != "" {
			adjustments++
		}
	}
	if adjustments != 1 {
		t.Fatalf("the open period after the closed one carries %d adjustments, want the late entry", adjustments)
	}
	check("open after a closed one, with an adjustment", closeAt, later, int64(len(rows)))
}
