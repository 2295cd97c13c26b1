package postgres_test

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/connects/connects-reconciler/reconcile"
)

// TestPropertyReconcileMatchesModel generates small random marketplaces and
// random policy variants, and checks the job against an independent model of
// the contract's refund policy (propModelPlan below, written from
// /work/shared/contract.md, not from the SQL):
//
//  1. the refunds a run writes are exactly the model's missing owed refunds
//     (proposal, component, amount, account credited, rule);
//  2. the dry-run plan equals the model (refunds, discrepancies, pending) and
//     equals what the run then writes;
//  3. each component is refunded at most once, every balance equals its
//     ledger sum, and a second run plans and writes nothing.
//
// One database serves the whole rapid run; each iteration empties the
// tables and re-reads the database clock. -rapid.checks=N changes the number
// of iterations (default 100).
func TestPropertyReconcileMatchesModel(t *testing.T) {
	t.Parallel()
	m := newMarket(t)
	outer := m.t
	// Durability does not matter to a throwaway database: commits need not
	// wait for the WAL flush (this makes building each market ~10x faster).
	// The setting applies to new connections, so drop the idle ones.
	m.exec(`DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET synchronous_commit = off', current_database()); END $$`)
	m.db.SetMaxIdleConns(0)
	m.db.SetMaxIdleConns(2)
	// Each iteration empties the contract's and the job's tables, children
	// first. DELETE, not TRUNCATE: on these tiny tables TRUNCATE (a new file
	// per table and index) costs 100-350 ms an iteration, DELETE a few ms.
	// Generated ids need no restart: nothing compares them across iterations.
	reset := `TRUNCATE reconciler_refund_matches; DELETE FROM reconciler_watermarks; DELETE FROM reconciler_refunds; DELETE FROM reconciler_exceptions; DELETE FROM reconciler_sweep_states; DELETE FROM reconciler_sweeps; DELETE FROM reconciler_runs;
	    DELETE FROM connects_ledger; DELETE FROM connects_balances; DELETE FROM proposal_interactions;
	    DELETE FROM boost_bids; DELETE FROM boost_auctions; DELETE FROM proposals; DELETE FROM jobs`
	rapid.Check(t, func(rt *rapid.T) {
		m.t = propTB{TB: outer, rt: rt}
		defer func() { m.t = outer }()
		m.key = 0
		m.exec(reset)
		if err := m.db.GetContext(m.ctx, &m.now, `SELECT now()`); err != nil {
			rt.Fatalf("read clock: %v", err)
		}

		w := propDrawWorld(rt)
		w.now = m.now
		pol := propDrawPolicy(rt)
		// Planning slices of a few proposal ids up to all of them at once.
		m.batch = rapid.SampledFrom([]int64{7, 3, 16, 100}).Draw(rt, "batch size")
		rt.Logf("policy: %+v", pol)
		rt.Logf("market:\n%s", w.describe())
		w.build(m)

		// 2. The dry-run plan equals the model.
		r := m.reconciler(pol)
		dry, err := r.Plan(m.ctx)
		if err != nil {
			rt.Fatalf("plan: %v", err)
		}
		want := propModelPlan(w, pol, dry.AsOf)
		propComparePlan(rt, "dry-run plan", dry, pol, want)

		// 1. The run writes exactly the model's missing owed refunds.
		res, err := m.reconciler(pol).Run(m.ctx, "property-run-1")
		if err != nil {
			rt.Fatalf("run: %v", err)
		}
		if res.Status != reconcile.StatusSucceeded {
			rt.Fatalf("run status %s, want succeeded", res.Status)
		}
		wantRun := propModelPlan(w, pol, res.Plan.AsOf)
		propComparePlan(rt, "run's plan", res.Plan, pol, wantRun)
		propEqualStrings(rt, "refunds the run wrote vs the model", propRefundStrings(issuedOf(rt, res)), propRefundStrings(wantRun.Refunds))
		propEqualStrings(rt, "refunds the run wrote vs the dry-run plan", propRefundStrings(issuedOf(rt, res)), propRefundStrings(refundsOf(rt, dry)))
		if len(skippedOf(rt, res)) != 0 {
			rt.Fatalf("run skipped %v; nothing changed between plan and apply", propRefundStrings(skippedOf(rt, res)))
		}
		for _, f := range issuedOf(rt, res) {
			if f.LedgerEntryID == 0 {
				rt.Fatalf("issued refund %d/%s has no ledger entry id", f.ProposalID, f.Component)
			}
		}
		propEqualStrings(rt, "audit rows (reconciler_refunds) vs the model", propAuditRows(rt, m), propRefundStrings(wantRun.Refunds))

		// The ledger: what was there, plus the model's refunds under the job's key.
		for _, f := range wantRun.Refunds {
			p := w.proposal(f.ProposalID)
			p.Refunds[f.Component] = &propRefund{Amount: int(f.Connects()), Account: f.FreelancerID, Key: reconcile.RefundKey(f.ProposalID, f.Component)}
		}
		propEqualStrings(rt, "ledger refund entries", propLedgerRefunds(rt, m), w.refundEntries())

		// 3. Invariants.
		var dup []string
		if err := m.db.SelectContext(m.ctx, &dup, `
		    SELECT proposal_id || '/' || component || ' x' || count(*)
		    FROM connects_ledger WHERE entry_type = 'refund'
		    GROUP BY proposal_id, component HAVING count(*) > 1`); err != nil {
			rt.Fatal(err)
		}
		if len(dup) > 0 {
			rt.Fatalf("components refunded more than once: %v", dup)
		}
		m.checkBalances()

		again, err := m.reconciler(pol).Run(m.ctx, "property-run-2")
		if err != nil {
			rt.Fatalf("second run: %v", err)
		}
		if len(refundsOf(rt, again.Plan)) != 0 || len(issuedOf(rt, again)) != 0 {
			rt.Fatalf("second run planned %v and wrote %v; want nothing",
				propRefundStrings(refundsOf(rt, again.Plan)), propRefundStrings(issuedOf(rt, again)))
		}
		wantAgain := propModelPlan(w, pol, again.Plan.AsOf)
		if len(wantAgain.Refunds) != 0 {
			rt.Fatalf("model bug: still owes %v after the run", propRefundStrings(wantAgain.Refunds))
		}
		propComparePlan(rt, "second run's plan", again.Plan, pol, wantAgain)
		// An incremental run (from the watermark the first run left) has
		// nothing to write either.
		inc := m.reconciler(pol)
		inc.Options.Full = false
		incRes, err := inc.Run(m.ctx, "property-run-3")
		if err != nil {
			rt.Fatalf("incremental run: %v", err)
		}
		if incRes.Status != reconcile.StatusSucceeded || len(refundsOf(rt, incRes.Plan)) != 0 || len(issuedOf(rt, incRes)) != 0 {
			rt.Fatalf("incremental run: status %s, planned %v, wrote %v; want succeeded, nothing", incRes.Status,
				propRefundStrings(refundsOf(rt, incRes.Plan)), propRefundStrings(issuedOf(rt, incRes)))
		}
		propEqualStrings(rt, "ledger refund entries after a second run", propLedgerRefunds(rt, m), w.refundEntries())
		m.checkBalances()
	})
}

// propTB lets the fixture's helpers fail (and log into) the current rapid
// iteration, so that rapid can shrink a failing marketplace.
type propTB struct {
	testing.TB
	rt *rapid.T
}

func (r propTB) Helper()                           {}
func (r propTB) Logf(format string, args ...any)   { r.rt.Logf(format, args...) }
func (r propTB) Log(args ...any)                   { r.rt.Log(args...) }
func (r propTB) Errorf(format string, args ...any) { r.rt.Errorf(format, args...) }
func (r propTB) Error(args ...any)                 { r.rt.Error(args...) }
func (r propTB) Fatalf(format string, args ...any) { r.rt.Fatalf(format, args...) }
func (r propTB) Fatal(args ...any)                 { r.rt.Fatal(args...) }
func (r propTB) Fail()                             { r.rt.Fail() }
func (r propTB) FailNow()                          { r.rt.FailNow() }
func (r propTB) Failed() bool                      { return r.rt.Failed() }

// ---------------------------------------------------------------------------
// The generated marketplace.

// Times are ages before the database clock read at the start of the
// iteration, from a small grid so that coincident timestamps are common. 5m
// is inside the default settle delay, the rest outside.
var propAgeGrid = []time.Duration{time.Hour, 5 * time.Minute, 2 * time.Hour, 15 * time.Minute, 3 * time.Hour, 4 * time.Hour}

var propInteractionKinds = []string{"opened", "impression", "declined", "offer_sent", "shortlisted", "messaged", "archived"}

type propJob struct {
	ID      int64
	Status  string
	Reason  string
	Closed  *time.Duration // nil while open
	Auction string         // "" (none), "running" or "ended"
	Ended   *time.Duration
}

type propTouch struct {
	Kind string
	Age  time.Duration
}

type propRefund struct {
	Amount  int
	Account int64
	Key     string
}

type propOther struct {
	Type      string // grant or adjustment: never a refund
	Component reconcile.Component
	Amount    int
}

type propProposal struct {
	ID, Job, Freelancer int64
	Withdrawn           *time.Duration
	BaseFees            []int // 0 or 1 proposal_fee rows (Connects charged)
	BaseAccount         int64
	BoostFees           []int // 0-3 boost_fee rows
	BoostAccount        int64
	Bid                 string // "" no bid; "null", "won" or "outbid"
	Outbid              *time.Duration
	Touches             []propTouch
	Refunds             map[reconcile.Component]*propRefund // existing refund entries
	Others              []propOther
}

type propWorld struct {
	now   time.Time
	jobs  []*propJob
	props []*propProposal
}

func (w *propWorld) at(age time.Duration) time.Time { return w.now.Add(-age) }

func (w *propWorld) job(id int64) *propJob {
	for _, j := range w.jobs {
		if j.ID == id {
			return j
		}
	}
	panic(fmt.Sprintf("no job %d", id))
}

func (w *propWorld) proposal(id int64) *propProposal {
	for _, p := range w.props {
		if p.ID == id {
			return p
		}
	}
	panic(fmt.Sprintf("no proposal %d", id))
}

func propDrawAge(t *rapid.T, label string) *time.Duration {
	a := rapid.SampledFrom(propAgeGrid).Draw(t, label)
	return &a
}

func propMaybeAge(t *rapid.T, label string) *time.Duration {
	if rapid.Bool().Draw(t, label+"?") {
		return propDrawAge(t, label)
	}
	return nil
}

func propDrawWorld(t *rapid.T) *propWorld {
	w := &propWorld{}
	kinds := []string{"closed/no_hire", "removed/tos_violation", "open", "closed/no_hire", "removed/tos_violation",
		"closed/hired", "closed/expired", "closed/inactivity"}
	freelancers := []int64{101, 102, 103, 104}
	nJobs := rapid.IntRange(1, 6).Draw(t, "jobs")
	for ji := 1; ji <= nJobs; ji++ {
		j := &propJob{ID: int64(ji)}
		kind := rapid.SampledFrom(kinds).Draw(t, fmt.Sprintf("job%d", ji))
		if kind == "open" {
			j.Status = "open"
		} else {
			s, r, _ := strings.Cut(kind, "/")
			j.Status, j.Reason = s, r
			j.Closed = propDrawAge(t, fmt.Sprintf("job%d closed", ji))
		}
		j.Auction = rapid.SampledFrom([]string{"ended", "", "running", "ended"}).Draw(t, fmt.Sprintf("job%d auction", ji))
		if j.Auction == "ended" {
			j.Ended = propDrawAge(t, fmt.Sprintf("job%d auction ended", ji))
		}
		w.jobs = append(w.jobs, j)

		nProps := rapid.IntRange(0, 5).Draw(t, fmt.Sprintf("job%d proposals", ji))
		for k := 0; k < nProps; k++ {
			id := int64(ji*10 + k)
			lbl := func(s string) string { return fmt.Sprintf("p%d %s", id, s) }
			p := &propProposal{ID: id, Job: j.ID, Refunds: map[reconcile.Component]*propRefund{}}
			p.Freelancer = rapid.SampledFrom(freelancers).Draw(t, lbl("freelancer"))
			p.Withdrawn = propMaybeAge(t, lbl("withdrawn"))
			accounts := []int64{p.Freelancer, p.Freelancer, 900} // 900: an agency account paid
			if rapid.IntRange(0, 3).Draw(t, lbl("base fee?")) > 0 {
				p.BaseFees = []int{rapid.IntRange(1, 8).Draw(t, lbl("base fee"))}
			}
			p.BaseAccount = rapid.SampledFrom(accounts).Draw(t, lbl("base account"))
			p.BoostFees = rapid.SliceOfN(rapid.IntRange(1, 10), 0, 3).Draw(t, lbl("boost fees"))
			p.BoostAccount = rapid.SampledFrom(accounts).Draw(t, lbl("boost account"))
			p.Bid = rapid.SampledFrom([]string{"outbid", "", "null", "won", "outbid"}).Draw(t, lbl("bid"))
			if p.Bid == "outbid" {
				p.Outbid = propDrawAge(t, lbl("outbid"))
			}
			nTouches := rapid.IntRange(0, 3).Draw(t, lbl("touches"))
			for i := 0; i < nTouches; i++ {
				p.Touches = append(p.Touches, propTouch{
					Kind: rapid.SampledFrom(propInteractionKinds).Draw(t, lbl("touch kind")),
					Age:  *propDrawAge(t, lbl("touch")),
				})
			}
			for _, c := range []reconcile.Component{reconcile.Base, reconcile.Boost} {
				charged, account := p.charged(c)
				if account == 0 {
					account = p.Freelancer
				}
				var amount int
				switch rapid.SampledFrom([]string{"none", "none", "none", "none", "correct", "wrong"}).Draw(t, lbl(string(c)+" refund")) {
				case "none":
					continue
				case "correct":
					amount = charged
				case "wrong":
					amount = charged + rapid.SampledFrom([]int{-2, -1, 1, 2}).Draw(t, lbl(string(c)+" refund error"))
				}
				if amount <= 0 {
					amount = charged + 1
				}
				key := rapid.SampledFrom([]string{"online:%d:%s", "refund:%d:%s"}).Draw(t, lbl(string(c)+" refund key"))
				p.Refunds[c] = &propRefund{Amount: amount, Account: account, Key: fmt.Sprintf(key, p.ID, c)}
			}
			if rapid.IntRange(0, 4).Draw(t, lbl("other entry?")) == 0 {
				p.Others = append(p.Others, propOther{
					Type:      rapid.SampledFrom([]string{"grant", "adjustment"}).Draw(t, lbl("other type")),
					Component: rapid.SampledFrom([]reconcile.Component{reconcile.Base, reconcile.Boost}).Draw(t, lbl("other component")),
					Amount:    rapid.IntRange(1, 10).Draw(t, lbl("other amount")),
				})
			}
			w.props = append(w.props, p)
		}
	}
	return w
}

func propDrawPolicy(t *rapid.T) reconcile.Policy {
	p := reconcile.DefaultPolicy()
	if rapid.Bool().Draw(t, "policy variant") {
		p.TOSRemoved = rapid.Bool().Draw(t, "tos_removed")
		p.TOSRemovedBoost = rapid.Bool().Draw(t, "tos_removed_boost")
		p.ClosedWithoutHire = rapid.Bool().Draw(t, "closed_without_hire")
		p.ClosedWithoutHireBoost = rapid.Bool().Draw(t, "closed_without_hire_boost")
		p.RefundDeclined = rapid.Bool().Draw(t, "refund_declined")
		p.BoostOutbid = rapid.Bool().Draw(t, "boost_outbid")
	}
	p.SettleDelay = rapid.SampledFrom([]time.Duration{15 * time.Minute, 0}).Draw(t, "settle delay")
	if rapid.Bool().Draw(t, "eligible subset") {
		kinds := rapid.SliceOfDistinct(rapid.SampledFrom(reconcile.EligibleInteractions), func(s string) string { return s }).Draw(t, "eligible kinds")
		p.EligibleInteractions = append([]string{}, kinds...)
	}
	return p
}

// build writes the marketplace through the fixture's helpers.
func (w *propWorld) build(m *market) {
	for _, j := range w.jobs {
		m.job(j.ID, j.Status, j.Reason, j.Closed)
		if j.Auction != "" {
			m.auction(j.ID, j.Ended)
		}
	}
	for _, p := range w.props {
		m.proposal(p.ID, p.Job, p.Freelancer, p.Withdrawn)
		for _, a := range p.BaseFees {
			m.fee(p.BaseAccount, p.ID, "base", a)
		}
		for _, a := range p.BoostFees {
			m.fee(p.BoostAccount, p.ID, "boost", a)
		}
		switch p.Bid {
		case "null":
			m.bid(p.ID, "", nil)
		case "won":
			m.bid(p.ID, "won", nil)
		case "outbid":
			m.bid(p.ID, "outbid", p.Outbid)
		}
		for _, tc := range p.Touches {
			m.touch(p.ID, tc.Kind, ago(tc.Age))
		}
		for _, c := range []reconcile.Component{reconcile.Base, reconcile.Boost} {
			if r := p.Refunds[c]; r != nil {
				m.entry(r.Account, r.Amount, "refund", p.ID, string(c), r.Key)
			}
		}
		for _, o := range p.Others {
			m.entry(p.Freelancer, o.Amount, o.Type, p.ID, string(o.Component), "")
		}
	}
}

func propFmtAge(a *time.Duration) string {
	if a == nil {
		return "-"
	}
	return "-" + a.String()
}

func (w *propWorld) describe() string {
	var b strings.Builder
	for _, j := range w.jobs {
		fmt.Fprintf(&b, "job %d %s/%s closed %s auction %q ended %s\n", j.ID, j.Status, j.Reason, propFmtAge(j.Closed), j.Auction, propFmtAge(j.Ended))
	}
	for _, p := range w.props {
		fmt.Fprintf(&b, "  proposal %d job %d freelancer %d withdrawn %s base %v@%d boost %v@%d bid %q outbid %s",
			p.ID, p.Job, p.Freelancer, propFmtAge(p.Withdrawn), p.BaseFees, p.BaseAccount, p.BoostFees, p.BoostAccount, p.Bid, propFmtAge(p.Outbid))
		for _, tc := range p.Touches {
			fmt.Fprintf(&b, " touch %s@-%s", tc.Kind, tc.Age)
		}
		for _, c := range []reconcile.Component{reconcile.Base, reconcile.Boost} {
			if r := p.Refunds[c]; r != nil {
				fmt.Fprintf(&b, " refund %s %d@%d %s", c, r.Amount, r.Account, r.Key)
			}
		}
		for _, o := range p.Others {
			fmt.Fprintf(&b, " %s %s %d", o.Type, o.Component, o.Amount)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// refundEntries are the refund rows the ledger must hold, as
// "proposal/component amount@account key".
func (w *propWorld) refundEntries() []string {
	out := []string{}
	for _, p := range w.props {
		for _, c := range []reconcile.Component{reconcile.Base, reconcile.Boost} {
			if r := p.Refunds[c]; r != nil {
				out = append(out, fmt.Sprintf("%d/%s %d@%d %s", p.ID, c, r.Amount, r.Account, r.Key))
			}
		}
	}
	sort.Strings(out)
	return out
}

// ---------------------------------------------------------------------------
// The model: the contract's policy, written plainly.

// charged returns charged(P, C) and the account that was charged (0 when
// nothing was).
func (p *propProposal) charged(c reconcile.Component) (int, int64) {
	fees, account := p.BaseFees, p.BaseAccount
	if c == reconcile.Boost {
		fees, account = p.BoostFees, p.BoostAccount
	}
	total := 0
	for _, f := range fees {
		total += f
	}
	if len(fees) == 0 {
		account = 0
	}
	return total, account
}

// propEntitle returns the first rule, in order of precedence, that entitles the
// component, and the time of that rule's event; "" when none does. It ignores
// the settle delay and what was charged.
func propEntitle(w *propWorld, pol reconcile.Policy, p *propProposal, c reconcile.Component) (reconcile.Rule, time.Time) {
	j := w.job(p.Job)
	eligible := map[string]bool{}
	for _, k := range pol.EligibleInteractions {
		eligible[k] = true
	}

	if j.Closed != nil {
		closedAt := w.at(*j.Closed)
		withdrawnBeforeClose := p.Withdrawn != nil && w.at(*p.Withdrawn).Before(closedAt)

		// 1. tos_removed: base and boost, for every proposal not withdrawn
		// before closed_at.
		if pol.TOSRemoved && j.Status == "removed" && j.Reason == "tos_violation" && !withdrawnBeforeClose {
			if c == reconcile.Base || pol.TOSRemovedBoost {
				return reconcile.RuleTOSRemoved, closedAt
			}
		}

		// 2. closed_without_hire: base for every proposal not withdrawn and
		// not declined before closed_at; the boost as well, unless the
		// proposal received an eligible interaction before closed_at.
		if pol.ClosedWithoutHire && j.Status == "closed" && j.Reason == "no_hire" && !withdrawnBeforeClose {
			declinedBefore, touchedBefore := false, false
			for _, tc := range p.Touches {
				if w.at(tc.Age).Before(closedAt) {
					if tc.Kind == "declined" {
						declinedBefore = true
					}
					if eligible[tc.Kind] {
						touchedBefore = true
					}
				}
			}
			if !declinedBefore || pol.RefundDeclined {
				if c == reconcile.Base {
					return reconcile.RuleClosedWithoutHire, closedAt
				}
				if pol.ClosedWithoutHireBoost && !touchedBefore {
					return reconcile.RuleClosedWithoutHire, closedAt
				}
			}
		}
	}

	// 3. boost_outbid: the auction ended, the bid was outbid, and no eligible
	// interaction occurred at or before outbid_at. Whatever the job's status.
	if c == reconcile.Boost && pol.BoostOutbid && j.Auction == "ended" && p.Bid == "outbid" {
		outbidAt := w.at(*p.Outbid)
		touched := false
		for _, tc := range p.Touches {
			if eligible[tc.Kind] && !w.at(tc.Age).After(outbidAt) {
				touched = true
			}
		}
		if !touched {
			return reconcile.RuleBoostOutbid, w.at(*j.Ended)
		}
	}
	return "", time.Time{}
}

type propDiscrepancy struct {
	ProposalID int64
	Component  reconcile.Component
	Kind       reconcile.State
	JobID      int64
	Rule       reconcile.Rule // compared for amount_mismatch only
	Charged    int64
	Refunded   int64
}

type propExpectation struct {
	Refunds       []reconcile.Refund
	Discrepancies []propDiscrepancy
	Pending       int64
	OldestPending *time.Time
}

// propModelPlan is what a plan made at the database time asOf must contain.
func propModelPlan(w *propWorld, pol reconcile.Policy, asOf time.Time) propExpectation {
	cutoff := asOf.Add(-pol.SettleDelay)
	var e propExpectation
	for _, p := range w.props {
		for _, c := range []reconcile.Component{reconcile.Base, reconcile.Boost} {
			charged, account := p.charged(c)
			rule, event := propEntitle(w, pol, p, c)
			existing := p.Refunds[c]
			switch {
			case existing == nil:
				if rule == "" || charged <= 0 {
					continue // nothing owed
				}
				if event.Before(cutoff) { // older than the settle delay
					e.Refunds = append(e.Refunds, reconcile.Refund{
						ProposalID: p.ID, FreelancerID: account, JobID: p.Job,
						Component: c, Charged: int64(charged), Rule: rule, EventAt: &event,
					})
				} else {
					e.Pending++
					if e.OldestPending == nil || event.Before(*e.OldestPending) {
						ev := event
						e.OldestPending = &ev
					}
				}
			case rule == "" || charged <= 0:
				e.Discrepancies = append(e.Discrepancies, propDiscrepancy{
					ProposalID: p.ID, Component: c, Kind: reconcile.UnexpectedRefund, JobID: p.Job,
					Charged: int64(charged), Refunded: int64(existing.Amount),
				})
			case existing.Amount != charged:
				e.Discrepancies = append(e.Discrepancies, propDiscrepancy{
					ProposalID: p.ID, Component: c, Kind: reconcile.AmountMismatch, JobID: p.Job, Rule: rule,
					Charged: int64(charged), Refunded: int64(existing.Amount),
				})
			}
		}
	}
	return e
}

// ---------------------------------------------------------------------------
// Comparisons.

func propRefundStrings(rs []reconcile.Refund) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%d/%s job %d %d@%d %s", r.ProposalID, r.Component, r.JobID, r.Connects(), r.FreelancerID, r.Rule))
	}
	sort.Strings(out)
	return out
}

func propDiscrepancyString(d propDiscrepancy) string {
	s := fmt.Sprintf("%d/%s %s job %d charged %d refunded %d", d.ProposalID, d.Component, d.Kind, d.JobID, d.Charged, d.Refunded)
	if d.Kind == reconcile.AmountMismatch {
		s += " rule " + string(d.Rule)
	}
	return s
}

func propEqualStrings(t *rapid.T, what string, got, want []string) {
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got  %s\n want %s", what, strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}
}

func propComparePlan(t *rapid.T, what string, got *reconcile.Plan, pol reconcile.Policy, want propExpectation) {
	if !got.SettleCutoff.Equal(got.AsOf.Add(-pol.SettleDelay)) {
		t.Fatalf("%s: settle cutoff %s, want as-of %s minus %s", what, got.SettleCutoff, got.AsOf, pol.SettleDelay)
	}
	if got.Scope != "full" {
		t.Fatalf("%s: scope %q, want full", what, got.Scope)
	}
	gotRefunds := refundsOf(t, got)
	propEqualStrings(t, what+": refunds", propRefundStrings(gotRefunds), propRefundStrings(want.Refunds))
	for i, r := range gotRefunds { // same order: both sorted by proposal, component
		if w := want.Refunds[i].EventAt; r.EventAt == nil || !r.EventAt.Equal(*w) {
			t.Fatalf("%s: refund %d/%s: event at %v, want %v", what, r.ProposalID, r.Component, r.EventAt, *w)
		}
	}
	gotD, wantD := []string{}, []string{}
	for _, d := range discrepanciesOf(t, got) {
		gotD = append(gotD, propDiscrepancyString(propDiscrepancy{
			ProposalID: d.ProposalID, Component: d.Component, Kind: d.State, JobID: d.JobID,
			Rule: d.Rule, Charged: d.Charged, Refunded: d.Refunded,
		}))
	}
	for _, d := range want.Discrepancies {
		wantD = append(wantD, propDiscrepancyString(d))
	}
	sort.Strings(gotD)
	sort.Strings(wantD)
	propEqualStrings(t, what+": discrepancies", gotD, wantD)
	if got.Totals().Pending != want.Pending {
		t.Fatalf("%s: pending %d, want %d", what, got.Totals().Pending, want.Pending)
	}
	if oldest := got.OldestPending(); (oldest == nil) != (want.OldestPending == nil) ||
		(oldest != nil && !oldest.Equal(*want.OldestPending)) {
		t.Fatalf("%s: oldest pending %v, want %v", what, oldest, want.OldestPending)
	}
}

// propLedgerRefunds reads every refund entry of the ledger, in the format of
// propWorld.refundEntries.
func propLedgerRefunds(t *rapid.T, m *market) []string {
	var rows []struct {
		ProposalID   int64  `db:"proposal_id"`
		Component    string `db:"component"`
		Amount       int    `db:"amount"`
		FreelancerID int64  `db:"freelancer_id"`
		Key          string `db:"idempotency_key"`
	}
	if err := m.db.SelectContext(m.ctx, &rows, `SELECT proposal_id, component, amount, freelancer_id, idempotency_key
	    FROM connects_ledger WHERE entry_type = 'refund'`); err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, r := range rows {
		out = append(out, fmt.Sprintf("%d/%s %d@%d %s", r.ProposalID, r.Component, r.Amount, r.FreelancerID, r.Key))
	}
	sort.Strings(out)
	return out
}

// propAuditRows reads the job's audit of the refunds it wrote, joined to the
// ledger entries, in the format of propRefundStrings.
func propAuditRows(t *rapid.T, m *market) []string {
	var rows []struct {
		ProposalID   int64  `db:"proposal_id"`
		Component    string `db:"component"`
		JobID        int64  `db:"job_id"`
		Connects     int64  `db:"connects"`
		FreelancerID int64  `db:"freelancer_id"`
		Rule         string `db:"rule"`
	}
	if err := m.db.SelectContext(m.ctx, &rows, `
	    SELECT l.proposal_id, l.component, a.job_id, l.amount AS connects, l.freelancer_id, a.rule
	    FROM reconciler_refunds a JOIN connects_ledger l ON l.id = a.ledger_entry_id`); err != nil {
		t.Fatal(err)
	}
	var rs []reconcile.Refund
	for _, r := range rows {
		rs = append(rs, reconcile.Refund{ProposalID: r.ProposalID, Component: reconcile.Component(r.Component),
			JobID: r.JobID, Charged: r.Connects, FreelancerID: r.FreelancerID, Rule: reconcile.Rule(r.Rule)})
	}
	return propRefundStrings(rs)
}
