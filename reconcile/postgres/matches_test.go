package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/connects/connects-reconciler/reconcile"
	"github.com/connects/connects-reconciler/reconcile/postgres"
	"github.com/connects/connects-reconciler/reconcile/prometheus"
	"github.com/connects/connects-reconciler/synth"
)

// match is a reconciler_refund_matches row as the tests compare it.
type match struct {
	Entry       int64     `db:"ledger_entry_id"`
	Key         string    `db:"idempotency_key"`
	Rule        string    `db:"rule"`
	Verdict     string    `db:"verdict"`
	IssuedBy    string    `db:"issued_by"`
	RunID       string    `db:"run_id"`
	MatchedAt   time.Time `db:"matched_at"`
	Fingerprint string    `db:"policy_fingerprint"`
}

func (m *market) matches() map[string]match {
	m.t.Helper()
	var rows []match
	if err := m.db.Select(&rows, `SELECT m.ledger_entry_id, l.idempotency_key, m.rule, m.verdict, m.issued_by, m.run_id,
	        m.matched_at, m.policy_fingerprint
	    FROM reconciler_refund_matches m JOIN connects_ledger l ON l.id = m.ledger_entry_id`); err != nil {
		m.t.Fatal(err)
	}
	out := map[string]match{}
	for _, r := range rows {
		out[r.Key] = r
	}
	return out
}

// Every refund entry is matched once, by the run that first sees it
// settled: an online refund with the rule that entitles it, one no rule
// entitles with the discrepancy kind, the job's own with its run (in the
// transaction that wrote it). A refund inside the settle delay waits. Later
// runs never rewrite a match; after the settings change, the matches stand
// and only what was not matched yet gets the new settings' verdict, with
// their fingerprint.
func TestRefundMatchedOnceUnderSettingsOfItsTime(t *testing.T) {
	t.Parallel()
	m := newMarket(t)
	m.job(1, "closed", "no_hire", ago(3*h))
	m.proposal(10, 1, 100, nil)
	m.fee(100, 10, "base", 4) // the job refunds it
	m.proposal(11, 1, 101, nil)
	m.fee(101, 11, "boost", 6)
	m.entry(101, 6, "refund", 11, "boost", "online:11:boost") // closed_without_hire, boost on
	m.job(2, "closed", "hired", ago(3*h))
	m.proposal(20, 2, 102, nil)
	m.fee(102, 20, "base", 5)
	m.entry(102, 5, "refund", 20, "base", "online:20:base") // no rule: unexpected
	m.entry(103, 2, "refund", 0, "", "stray")               // no proposal
	m.exec(`UPDATE connects_ledger SET created_at = now() - interval '2 hours' WHERE entry_type = 'refund'`)
	m.proposal(12, 1, 104, nil)
	m.fee(104, 12, "boost", 3)
	m.entry(104, 3, "refund", 12, "boost", "online:12:boost") // just written: inside the settle delay

	ctx := context.Background()
	r := m.reconciler(reconcile.DefaultPolicy())
	if _, err := r.Run(ctx, "run-1"); err != nil {
		t.Fatal(err)
	}
	first := m.matches()
	want := map[string][3]string{ // rule, verdict, run
		"refund:10:base":  {"closed_without_hire", "refunded", "run-1"},
		"online:11:boost": {"closed_without_hire", "refunded", "run-1"},
		"online:20:base":  {"", "unexpected_refund", "run-1"},
		"stray":           {"", "unknown_proposal", "run-1"},
	}
	if len(first) != len(want) {
		t.Errorf("matches after the first run: %+v, want %d (the refund inside the settle delay not yet)", first, len(want))
	}
	for key, w := range want {
		g := first[key]
		if [3]string{g.Rule, g.Verdict, g.RunID} != w || g.Fingerprint == "" {
			t.Errorf("%s: matched %+v, want rule, verdict, run %v", key, g, w)
		}
	}
	if first["refund:10:base"].IssuedBy != "reconciler" || first["online:11:boost"].IssuedBy != "online" {
		t.Errorf("issuers: %+v", first)
	}

	// Finance switches the boost of rule 2 off; the refund inside the settle
	// delay settles meanwhile (as if written 2 hours ago).
	m.exec(`UPDATE connects_ledger SET created_at = now() - interval '2 hours' WHERE idempotency_key = 'online:12:boost'`)
	p := reconcile.DefaultPolicy()
	p.ClosedWithoutHireBoost = false
	r2 := m.reconciler(p)
	for _, id := range []string{"run-2", "run-3"} {
		if _, err := r2.Run(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	after := m.matches()
	for key, g := range first {
		if after[key] != g {
			t.Errorf("%s: match rewritten by a later run: %+v, was %+v", key, after[key], g)
		}
	}
	late := after["online:12:boost"]
	if late.RunID != "run-2" || late.Rule != "" || late.Verdict != "unexpected_refund" ||
		late.Fingerprint == first["online:11:boost"].Fingerprint {
		t.Errorf("the refund settled after the settings change: %+v, want run-2's unexpected_refund under another fingerprint", late)
	}
}

// Whoever races for an entry, it is matched once: runs that recorded the
// same plan (its entries to match included) at once (the lock only saves
// work; the table's key and ON CONFLICT DO NOTHING decide) leave one match
// per settled entry, and a later run matches nothing.
func TestRefundMatchesOnceUnderConcurrentRuns(t *testing.T) {
	t.Parallel()
	m := newMarket(t)
	ctx := context.Background()
	anchor := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)
	if _, err := synth.Seed(ctx, m.db, synth.SeedOptions{Seed: 5, Proposals: 3000, Anchor: anchor, MissingPercent: 10},
		zaptest.NewLogger(t)); err != nil {
		t.Fatal(err)
	}
	r := m.reconciler(reconcile.DefaultPolicy())
	r.Options.BatchSize = 1000
	store := r.Store.(*postgres.Store)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := []string{"c1", "c2", "c3", "c4"}[i]
			if err := store.StartRun(ctx, reconcile.RunRecord{ID: id, Mode: "run", Policy: r.Policy}); err != nil {
				errs[i] = err
				return
			}
			plan, err := r.PlanToRecord(ctx)
			if err != nil {
				errs[i] = err
				return
			}
			defer plan.Close()
			for try := 0; ; try++ {
				_, err = store.RecordExceptions(ctx, id, plan)
				if !errors.Is(err, reconcile.ErrTransient) || try == 5 {
					break
				}
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	var c struct {
		Settled int64 `db:"settled"`
		Matched int64 `db:"matched"`
		Entries int64 `db:"entries"`
	}
	if err := m.db.Get(&c, `SELECT
	        (SELECT count(*) FROM connects_ledger WHERE entry_type = 'refund' AND created_at < now() - interval '15 minutes') AS settled,
	        (SELECT count(*) FROM reconciler_refund_matches) AS matched,
	        (SELECT count(DISTINCT ledger_entry_id) FROM reconciler_refund_matches) AS entries`); err != nil {
		t.Fatal(err)
	}
	if c.Settled == 0 || c.Matched != c.Settled || c.Entries != c.Matched {
		t.Fatalf("%d settled refund entries, %d matches of %d entries; want one match each", c.Settled, c.Matched, c.Entries)
	}
	before := m.matches()
	res, err := r.Run(ctx, "after")
	if err != nil {
		t.Fatal(err)
	}
	if res.Exceptions == nil || res.Exceptions.Matched != 0 {
		t.Errorf("the next run matched %+v, want nothing", res.Exceptions)
	}
	after := m.matches()
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s rewritten: %+v, was %+v", k, after[k], v)
		}
	}
	// its own refunds are matched as it wrote them
	for _, w := range issuedOf(t, res) {
		if g := after[w.IdempotencyKey()]; g.RunID != "after" || g.Rule != string(w.Rule) || g.IssuedBy != "reconciler" {
			t.Errorf("%s: matched %+v, want run after, rule %s", w.IdempotencyKey(), g, w.Rule)
		}
	}
}

// An incremental run matches the refunds created in its window: a tick
// after a full sweep matches what arrived, and nothing older is read again.
func TestIncrementalRunMatchesWhatArrived(t *testing.T) {
	t.Parallel()
	m := newMarket(t)
	m.job(1, "closed", "no_hire", ago(3*h))
	m.proposal(10, 1, 100, nil)
	m.fee(100, 10, "base", 4)
	m.entry(100, 4, "refund", 10, "base", "online:10:base")
	m.exec(`UPDATE connects_ledger SET created_at = now() - interval '2 hours' WHERE entry_type = 'refund'`)
	ctx := context.Background()
	r := m.reconciler(reconcile.DefaultPolicy())
	if _, err := r.Run(ctx, "full"); err != nil {
		t.Fatal(err)
	}
	m.job(2, "closed", "no_hire", ago(40*time.Minute))
	m.proposal(20, 2, 101, nil)
	m.fee(101, 20, "base", 5)
	m.entry(101, 5, "refund", 20, "base", "online:20:base")
	m.exec(`UPDATE connects_ledger SET created_at = now() - interval '30 minutes' WHERE idempotency_key = 'online:20:base'`)
	r.Options.Full, r.Options.Lookback = false, time.Hour // the refund is 15 minutes older than the watermark
	res, err := r.Run(ctx, "tick")
	if err != nil {
		t.Fatal(err)
	}
	got := m.matches()
	if res.Plan.Scope != "incremental" || got["online:20:base"].RunID != "tick" || got["online:20:base"].Rule != "closed_without_hire" ||
		got["online:10:base"].RunID != "full" {
		t.Errorf("scope %s, matches %+v: want online:20:base matched by the tick", res.Plan.Scope, got)
	}
}

// Coverage, as a ledger team measures it: after each run, the refunded
// Connects no run has matched yet, by age (settling: inside the settle
// delay; overdue: past it), and the oldest one's age, in the run's metrics.
// A refund committed late with a timestamp older than an incremental run's
// window is overdue until the full sweep matches it.
func TestCoverageMetric(t *testing.T) {
	t.Parallel()
	m := newMarket(t)
	m.job(1, "closed", "no_hire", ago(5*h))
	for i, age := range []time.Duration{4 * h, 0} { // settled; just written
		p := int64(10 + i)
		m.proposal(p, 1, 100+p, nil)
		m.fee(100+p, p, "base", 4+i)
		m.entry(100+p, 4+i, "refund", p, "base", fmt.Sprintf("online:%d", p))
		m.exec(`UPDATE connects_ledger SET created_at = now() - $1 * interval '1 second' WHERE idempotency_key = $2`, age.Seconds(), fmt.Sprintf("online:%d", p))
	}
	ctx := context.Background()
	r := m.reconciler(reconcile.DefaultPolicy())
	gauges := func(res *reconcile.Result) (settling, overdue, oldest float64) {
		t.Helper()
		pm := prometheus.New()
		pm.Record(prometheus.Run{Result: res, Started: time.Now(), Ended: time.Now()})
		families, err := pm.Gatherer().Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			for _, s := range f.GetMetric() {
				switch f.GetName() {
				case "connects_reconciler_unmatched_refunded_connects":
					if s.GetLabel()[0].GetValue() == prometheus.AgeSettling {
						settling = s.GetGauge().GetValue()
					} else {
						overdue = s.GetGauge().GetValue()
					}
				case "connects_reconciler_oldest_unmatched_refund_age_seconds":
					oldest = s.GetGauge().GetValue()
				}
			}
		}
		return
	}
	res, err := r.Run(ctx, "full")
	if err != nil {
		t.Fatal(err)
	}
	if s, o, age := gauges(res); s != 5 || o != 0 || age < 0 || age > 60 {
		t.Errorf("after the full sweep: settling %v, overdue %v Connects, oldest %vs; want 5, 0, the refund just written", s, o, age)
	}
	// Committed now, dated 3 hours ago: older than the incremental run's
	// window (its watermark less a 1h lookback).
	m.proposal(12, 1, 112, nil)
	m.fee(112, 12, "base", 7)
	m.entry(112, 7, "refund", 12, "base", "online:12")
	m.exec(`UPDATE connects_ledger SET created_at = now() - interval '3 hours' WHERE idempotency_key = 'online:12'`)
	r.Options.Full, r.Options.Lookback = false, time.Hour
	if res, err = r.Run(ctx, "tick"); err != nil {
		t.Fatal(err)
	}
	if s, o, age := gauges(res); s != 5 || o != 7 || age < 3*3600 || age > 3*3600+120 {
		t.Errorf("after the tick: settling %v, overdue %v Connects, oldest %vs; want 5, 7, 3 hours", s, o, age)
	}
	r.Options.Full = true
	if res, err = r.Run(ctx, "full-2"); err != nil {
		t.Fatal(err)
	}
	if s, o, _ := gauges(res); s != 5 || o != 0 {
		t.Errorf("after the next full sweep: settling %v, overdue %v Connects; want 5, 0", s, o)
	}
}

// The plan's verdicts are match_refunds.sql's. Two copies of one
// marketplace (a seed with online, unexpected and missing refunds, and
// hand-made entries of every other verdict: wrong account, amount mismatch,
// a stray component, no proposal, an unknown proposal, a refund the job
// wrote before matches existed): one run matches through its plan
// (PlanToRecord, match_planned.sql), the other through match_refunds.sql
// alone (a plan with no entries to match). Every entry gets the same match.
func TestPlannedMatchesAsMatchRefunds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	anchor := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	build := func() *market {
		m := newMarket(t)
		if _, err := synth.Seed(ctx, m.db, synth.SeedOptions{Seed: 11, Proposals: 2000, Anchor: anchor, MissingPercent: 10},
			zaptest.NewLogger(t)); err != nil {
			t.Fatal(err)
		}
		m.job(9001, "closed", "no_hire", ago(5*h))
		m.proposal(900001, 9001, 9101, nil)
		m.fee(9101, 900001, "base", 4)
		m.entry(9102, 4, "refund", 900001, "base", "hand:wrong-account")
		m.proposal(900002, 9001, 9103, nil)
		m.fee(9103, 900002, "base", 5)
		m.entry(9103, 3, "refund", 900002, "base", "hand:amount-mismatch")
		m.proposal(900003, 9001, 9104, nil)
		m.fee(9104, 900003, "base", 4)
		m.entry(9104, 4, "refund", 900003, "base", "hand:beside-a-stray")
		m.entry(9104, 2, "refund", 900003, "bonus", "hand:stray")
		m.job(9002, "closed", "hired", ago(5*h))
		// the job refunded it, then the job was reopened and hired: an
		// unexpected refund now, still the job's own
		m.proposal(900004, 9002, 9105, nil)
		m.fee(9105, 900004, "base", 6)
		m.entry(9105, 6, "refund", 900004, "base", "hand:written-by-the-job-before-matches")
		// a defect, and a boost refunded though never charged
		m.job(9003, "removed", "tos_violation", ago(5*h))
		m.proposal(900006, 9003, 9109, nil)
		m.fee(9109, 900006, "base", 4)
		m.entry(9109, 4, "refund", 900006, "base", "hand:tos-base")
		m.entry(9109, 3, "refund", 900006, "boost", "hand:boost-never-charged")
		m.entry(9109, 1, "refund", 900006, "", "hand:stray-no-component")
		m.proposal(900005, 9002, 9106, nil)
		m.fee(9106, 900005, "boost", 5)
		m.entry(9106, 5, "refund", 900005, "boost", "hand:unexpected")
		m.entry(9107, 2, "refund", 0, "", "hand:no-proposal")
		m.entry(9108, 3, "refund", 500000, "base", "hand:unknown-proposal")
		m.exec(`UPDATE connects_ledger SET created_at = $1 WHERE idempotency_key LIKE 'hand:%' OR idempotency_key LIKE 'fixture:%'`,
			anchor.Add(-time.Hour))
		// a refund the job wrote under an earlier policy, before matches
		// existed: its audit row, no match
		m.exec(`INSERT INTO reconciler_runs (id, mode, shard, status, policy) VALUES ('old', 'run', '', 'succeeded', '{"old": true}')`)
		m.exec(`INSERT INTO reconciler_refunds (ledger_entry_id, run_id, proposal_id, job_id, freelancer_id, component, rule, connects)
		        SELECT id, 'old', proposal_id, 9002, freelancer_id, component, 'closed_without_hire', amount
		        FROM connects_ledger WHERE idempotency_key = 'hand:written-by-the-job-before-matches'`)
		return m
	}
	record := func(m *market, planned bool) int64 {
		r := m.reconciler(reconcile.DefaultPolicy())
		r.Options.BatchSize = 500
		store := r.Store.(*postgres.Store)
		if err := store.StartRun(ctx, reconcile.RunRecord{ID: "r", Mode: "run", Policy: r.Policy}); err != nil {
			t.Fatal(err)
		}
		plan := r.Plan
		if planned {
			plan = r.PlanToRecord
		}
		p, err := plan(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if err := store.RecordPlan(ctx, "r", p); err != nil {
			t.Fatal(err)
		}
		if _, err := store.RecordExceptions(ctx, "r", p); err != nil {
			t.Fatal(err)
		}
		return p.Matches()
	}
	type row struct {
		Key         string    `db:"idempotency_key"`
		ProposalID  int64     `db:"proposal_id"`
		Component   string    `db:"component"`
		JobID       int64     `db:"job_id"`
		Freelancer  int64     `db:"freelancer_id"`
		Connects    int64     `db:"connects"`
		CreatedAt   time.Time `db:"entry_created_at"`
		IssuedBy    string    `db:"issued_by"`
		Rule        string    `db:"rule"`
		Verdict     string    `db:"verdict"`
		RunID       string    `db:"run_id"`
		Fingerprint string    `db:"policy_fingerprint"`
	}
	matches := func(m *market) map[string]row {
		var rows []row
		if err := m.db.Select(&rows, `SELECT l.idempotency_key, coalesce(m.proposal_id, 0) AS proposal_id, coalesce(m.component, '') AS component, m.job_id, m.freelancer_id, m.connects,
		        m.entry_created_at, m.issued_by, m.rule, m.verdict, m.run_id, m.policy_fingerprint
		    FROM reconciler_refund_matches m JOIN connects_ledger l ON l.id = m.ledger_entry_id`); err != nil {
			t.Fatal(err)
		}
		out := map[string]row{}
		for _, r := range rows {
			r.CreatedAt = r.CreatedAt.UTC()
			out[r.Key] = r
		}
		return out
	}
	viaPlan, viaStatement := build(), build()
	if n := record(viaPlan, true); n < 100 {
		t.Fatalf("the plan found %d entries to match, want the seed's refunds", n)
	}
	if n := record(viaStatement, false); n != 0 {
		t.Fatalf("a plan made not to match found %d entries to match", n)
	}
	got, want := matches(viaPlan), matches(viaStatement)
	var settled int
	if err := viaPlan.db.Get(&settled, `SELECT count(*) FROM connects_ledger WHERE entry_type = 'refund'`); err != nil {
		t.Fatal(err)
	}
	if len(want) != settled || len(got) != len(want) {
		t.Errorf("%d refund entries; matched %d through the plan, %d through match_refunds.sql", settled, len(got), len(want))
	}
	verdicts := map[string]int{}
	for k, w := range want {
		verdicts[w.Verdict]++
		if g, ok := got[k]; !ok || !reflect.DeepEqual(g, w) {
			t.Errorf("%s: matched through the plan %+v, through match_refunds.sql %+v", k, g, w)
		}
	}
	for _, v := range []string{"refunded", "unexpected_refund", "wrong_account", "amount_mismatch", "refund_without_component", "unknown_proposal"} {
		if verdicts[v] == 0 {
			t.Errorf("no entry matched %s (%v): the comparison does not cover it", v, verdicts)
		}
	}
	if w := want["hand:written-by-the-job-before-matches"]; w.RunID != "old" || w.IssuedBy != "reconciler" || w.Rule != "closed_without_hire" || w.Verdict != "refunded" {
		t.Errorf("the job's own refund before matches: %+v", w)
	}
}

// Coverage costs what arrived since the last full sweep, not the history:
// after a sweep matched a seeded ledger, refund_coverage.sql reads the
// refund entries created since the sweep's cutoff less the lookback (the
// sweep's own refunds) and those above its high water (none), not the
// seed's hundreds of older ones (EXPLAIN ANALYZE: the rows its ledger scans
// return).
func TestCoverageReadsWhatArrived(t *testing.T) {
	t.Parallel()
	m := newMarket(t)
	ctx := context.Background()
	anchor := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)
	if _, err := synth.Seed(ctx, m.db, synth.SeedOptions{Seed: 3, Proposals: 3000, Anchor: anchor, MissingPercent: 5},
		zaptest.NewLogger(t)); err != nil {
		t.Fatal(err)
	}
	r := m.reconciler(reconcile.DefaultPolicy())
	r.Options.BatchSize, r.Options.Lookback = 1000, time.Hour
	if _, err := r.Run(ctx, "sweep"); err != nil {
		t.Fatal(err)
	}
	var history, recent int64
	if err := m.db.Get(&history, `SELECT count(*) FROM connects_ledger WHERE entry_type = 'refund'`); err != nil {
		t.Fatal(err)
	}
	if err := m.db.Get(&recent, `SELECT count(*) FROM connects_ledger WHERE entry_type = 'refund' AND created_at > now() - interval '90 minutes'`); err != nil {
		t.Fatal(err)
	}
	var out []byte
	if err := m.db.Get(&out, `EXPLAIN (ANALYZE, FORMAT JSON) `+postgres.RefundCoverageStatement,
		time.Now(), time.Hour.Seconds(), "tick"); err != nil {
		t.Fatal(err)
	}
	var plans []struct {
		Plan planNode `json:"Plan"`
	}
	if err := json.Unmarshal(out, &plans); err != nil || len(plans) != 1 {
		t.Fatalf("explain: %v\n%s", err, out)
	}
	read := plans[0].Plan.rowsOf("connects_ledger")
	if history < 100 || read > recent {
		t.Errorf("coverage read %d ledger rows; %d refund entries in the history, %d since the sweep: want at most those since", read, history, recent)
	}
}

// planNode is a node of EXPLAIN (FORMAT JSON).
type planNode struct {
	Relation string     `json:"Relation Name"`
	Rows     float64    `json:"Actual Rows"`
	Loops    float64    `json:"Actual Loops"`
	Plans    []planNode `json:"Plans"`
}

// rowsOf sums the rows the plan's scans of a table returned.
func (n planNode) rowsOf(table string) int64 {
	var sum int64
	if n.Relation == table {
		sum += int64(n.Rows * n.Loops)
	}
	for _, c := range n.Plans {
		sum += c.rowsOf(table)
	}
	return sum
}
