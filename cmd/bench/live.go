package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/connects/connects-reconciler/synth"
)

// The live load: the marketplace selling Connects while the job runs, each
// transaction moving one balance row and inserting one ledger row, at
// liveRate transactions a second over liveConns connections, on the
// liveAccounts accounts with the most refunds missing (the hot ones a
// backlog's batches credit).
const (
	liveRate     = 200
	liveConns    = 4
	liveAccounts = 2000
	// Targets of issue 20: the live p99 rises by at most maxLiveP99Rise from
	// the dry run to the backlog apply, and no live transaction takes longer
	// than maxLiveTx.
	maxLiveP99Rise = 10 * time.Millisecond
	maxLiveTx      = 100 * time.Millisecond
)

// liveApp is the live load's application_name, by which the sampler finds
// its backends.
const liveApp = "connects-bench-live"

// qLiveWaits samples the live backends that are in a transaction: their wait
// event, CPU when running without one, client when waiting for the next
// statement (the round trip). The sampler's own backend is not among them.
const qLiveWaits = `SELECT CASE WHEN state <> 'active' THEN 'client'
            ELSE coalesce(wait_event_type || ':' || wait_event, 'CPU') END
    FROM pg_stat_activity
    WHERE application_name = $1 AND pid <> pg_backend_pid() AND state IN ('active', 'idle in transaction')`

// liveStats are the live transactions' latencies over one run of the job.
type liveStats struct {
	Count, Errors int64
	P50, P99, Max time.Duration
	Rate          float64 // transactions a second achieved
	// Waits counts what the live transactions' backends were doing, sampled
	// every liveSample while they ran a statement (pg_stat_activity's wait
	// event, "CPU" for none, "client" between statements): what the live
	// path waits on.
	Waits map[string]int
}

// liveSample is how often the live backends' wait events are sampled.
const liveSample = 10 * time.Millisecond

func (s liveStats) String() string {
	return fmt.Sprintf("%d tx (%.0f/s, %d failed), p50 %s, p99 %s, max %s ms; waits sampled: %s", s.Count, s.Rate, s.Errors, ms(s.P50), ms(s.P99), ms(s.Max), s.waits())
}

// waits lists the sampled wait events, most frequent first.
func (s liveStats) waits() string {
	keys := slices.Collect(maps.Keys(s.Waits))
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(s.Waits[b]-s.Waits[a], strings.Compare(a, b)) })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, s.Waits[k]))
	}
	return strings.Join(parts, ", ")
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }

// liveLoad runs the live transactions until stopped.
type liveLoad struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	start  time.Time
	mu     sync.Mutex
	took   []time.Duration
	errors int64
	waits  map[string]int
	db     *sqlx.DB
}

// startLive starts the load on a database: liveConns workers, each a
// transaction every liveConns/liveRate seconds on its own connection, at a
// fixed schedule (a transaction that ends late does not delay the next
// one's start more than it must). Each transaction's time is measured from
// its BEGIN to its COMMIT's acknowledgement.
func startLive(ctx context.Context, dbURL string, accounts []int64, seed uint64) (*liveLoad, error) {
	u, err := url.Parse(dbURL)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	q.Set("application_name", liveApp)
	u.RawQuery = q.Encode()
	db, err := sqlx.Open("postgres", u.String())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(liveConns + 1) // and the sampler's
	db.SetMaxIdleConns(liveConns + 1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	l := &liveLoad{cancel: cancel, start: time.Now(), db: db, waits: map[string]int{}}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		tick := time.NewTicker(liveSample)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			var got []string
			if err := db.SelectContext(ctx, &got, qLiveWaits, liveApp); err != nil {
				continue
			}
			l.mu.Lock()
			for _, w := range got {
				l.waits[w]++
			}
			l.mu.Unlock()
		}
	}()
	every := time.Duration(float64(time.Second) * liveConns / liveRate)
	for w := range liveConns {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			next := time.Now().Add(time.Duration(w) * every / liveConns)
			for i := 0; ; i++ {
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Until(next)):
				}
				next = next.Add(every)
				account := accounts[rng.IntN(len(accounts))]
				key := fmt.Sprintf("bench-live:%d:%d:%d:%d", seed, w, i, time.Now().UnixNano())
				t0 := time.Now()
				err := synth.LivePurchase(ctx, db, account, 10, key)
				took := time.Since(t0)
				if ctx.Err() != nil {
					return
				}
				l.mu.Lock()
				if err != nil {
					l.errors++
				} else {
					l.took = append(l.took, took)
				}
				l.mu.Unlock()
			}
		}()
	}
	return l, nil
}

// stop ends the load and returns its latencies.
func (l *liveLoad) stop() liveStats {
	l.cancel()
	l.wg.Wait()
	l.db.Close()
	el := time.Since(l.start)
	s := liveStats{Count: int64(len(l.took)), Errors: l.errors, Waits: l.waits}
	if len(l.took) == 0 {
		return s
	}
	slices.Sort(l.took)
	at := func(q float64) time.Duration { return l.took[min(len(l.took)-1, int(q*float64(len(l.took))))] }
	s.P50, s.P99, s.Max = at(0.50), at(0.99), l.took[len(l.took)-1]
	s.Rate = float64(s.Count) / el.Seconds()
	return s
}

// liveCase is step "live": the backlog's dry run and its apply, each while
// the live load runs, on a copy of the backlog.
type liveCase struct {
	Accounts     int
	Dry, Apply   liveStats
	DryRun, Run  proc
	Wrote        int64
	Same         bool  // the run under load wrote the plain reference's refunds
	BalancesOff  int64 // accounts whose balance differs from the ledger after it
	MeasuredLive bool
}

// live runs the live case on dbURL, a copy of the backlog database, and
// checks the run wrote want.
func (b *bench) live(ctx context.Context, dbURL string, r *row, want synth.Fingerprint) error {
	lc := &r.Live
	var accounts []int64
	err := withDB(ctx, dbURL, func(db *sqlx.DB) (err error) {
		accounts, err = synth.LiveAccounts(ctx, db, liveAccounts)
		return err
	})
	if err != nil {
		return err
	}
	if len(accounts) == 0 {
		return fmt.Errorf("live case: no account has a refund missing")
	}
	lc.Accounts = len(accounts)
	under := func(name string, seed uint64, flags []string) (proc, liveStats, error) {
		load, err := startLive(ctx, dbURL, accounts, seed)
		if err != nil {
			return proc{}, liveStats{}, fmt.Errorf("live load: %w", err)
		}
		p, err := b.exec(ctx, dbURL, name, flags...)
		return p, load.stop(), err
	}
	if lc.DryRun, lc.Dry, err = under("live-dry-run", uint64(b.cfg.Seed), dryFlags); err != nil {
		return err
	}
	b.progress("%s: live load during the backlog's dry run (%s s): %s", human(r.Size), secs(lc.DryRun.Wall), lc.Dry)
	if lc.Run, lc.Apply, err = under("live-backlog", uint64(b.cfg.Seed)+1, fullFlags); err != nil {
		return err
	}
	lc.Wrote = int64(len(lc.Run.Report.Refunds))
	lc.MeasuredLive = true
	b.progress("%s: live load during the backlog run (%s s, %d refunds): %s", human(r.Size), secs(lc.Run.Wall), lc.Wrote, lc.Apply)
	err = withDB(ctx, dbURL, func(db *sqlx.DB) error {
		got, err := synth.RefundFingerprint(ctx, db)
		if err != nil {
			return err
		}
		lc.Same = got == want
		lc.BalancesOff, err = synth.BalancesOff(ctx, db)
		return err
	})
	if err != nil {
		return err
	}
	if !lc.Same || lc.BalancesOff != 0 {
		r.fail("live case: the backlog run under load wrote the plain reference's refunds: %s; %d balances differ from their ledger sums",
			yes(lc.Same), lc.BalancesOff)
	}
	if lc.Dry.Errors+lc.Apply.Errors > 0 {
		r.fail("live case: %d live transactions failed during the dry run, %d during the backlog run", lc.Dry.Errors, lc.Apply.Errors)
	}
	return nil
}

// writeLiveTable prints the live case and the incremental cost per touched
// proposal (Part 2 of issue 20), one row per size.
func writeLiveTable(w io.Writer, rows []*row) {
	var any bool
	for _, r := range rows {
		any = any || r.Live.MeasuredLive
	}
	if !any {
		return
	}
	fmt.Fprintf(w, "\nLive load: %d tx/s on %d connections (one balance update and one ledger insert each) on the %d accounts with the most refunds missing.\n\n",
		liveRate, liveConns, liveAccounts)
	fmt.Fprintln(w, "| proposals | backlog refunds | live p50 / p99 / max ms, during the dry run | live p50 / p99 / max ms, during the backlog run | "+
		"live p99 rise ms (≤ 10) | live max ≤ 100 ms | backlog s without → with load | backlog / plain, with load (≤ 2) | "+
		"backlog apply refunds/s without → with load |")
	fmt.Fprintln(w, "|---:|---:|---|---|---|---|---|---|---|")
	for _, r := range rows {
		lc := r.Live
		if !lc.MeasuredLive {
			continue
		}
		rise := lc.Apply.P99 - lc.Dry.P99
		withRatio := ratio(lc.Run.Wall, r.BacklogPlain)
		fmt.Fprintf(w, "| %s | %d | %s / %s / %s | %s / %s / %s | %s %s | %s %s | %s → %s | %.2f %s | %s → %s |\n",
			human(r.Size), lc.Wrote, ms(lc.Dry.P50), ms(lc.Dry.P99), ms(lc.Dry.Max), ms(lc.Apply.P50), ms(lc.Apply.P99), ms(lc.Apply.Max),
			ms(rise), verdict(rise <= maxLiveP99Rise), ms(lc.Apply.Max), verdict(lc.Apply.Max <= maxLiveTx),
			secs(r.Backlog.Wall), secs(lc.Run.Wall), withRatio, verdict(withRatio <= maxBacklogRatio),
			applyRate(int64(len(r.Backlog.Report.Refunds)), r.Backlog.Wall, r.NoopFull.Wall),
			applyRate(lc.Wrote, lc.Run.Wall, lc.DryRun.Wall))
	}
	fmt.Fprintln(w)
	for _, r := range rows {
		if lc := r.Live; lc.MeasuredLive {
			fmt.Fprintf(w, "- %s, live case: %d live tx during the dry run (%.0f/s), %d during the backlog run (%.0f/s), %d failed; "+
				"the run under load wrote the plain reference's refunds: %s; balances equal to their ledger sums: %s.\n",
				human(r.Size), lc.Dry.Count, lc.Dry.Rate, lc.Apply.Count, lc.Apply.Rate, lc.Dry.Errors+lc.Apply.Errors,
				yes(lc.Same), yes(lc.BalancesOff == 0))
			fmt.Fprintf(w, "- %s, what the live transactions' backends were doing (sampled every %s: wait event, CPU for none, client between statements): during the dry run %s; during the backlog run %s.\n",
				human(r.Size), liveSample, lc.Dry.waits(), lc.Apply.waits())
		}
	}
}

// changedProposals reads how many proposals an incremental run planned from
// its log (the store's "changed proposals" line); 0 when it has none.
func changedProposals(errPath string) int64 {
	data, err := os.ReadFile(errPath)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		var l struct {
			Msg       string `json:"msg"`
			Proposals int64  `json:"proposals"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "changed proposals" {
			return l.Proposals
		}
	}
	return 0
}

// Targets of issue 20's second part: an incremental run costs at most
// maxTickRatio times a full run per proposal its events touch; the no-op
// incremental run stays under maxNoopIncr.
const maxTickRatio = 3.0

// writeTickTable prints what an incremental run costs per proposal its
// events touched, against a full run's cost per proposal, for each day
// shape. The target's denominator is issue 20's: the proposals the day's
// events touched (synth's count of them: those of the day's new jobs, of
// the jobs it closed or removed, the bids of the auctions it ended, those
// with a late interaction). The proposals the run planned (its "changed
// proposals" log line: those of the closures that can entitle and of the
// ended auctions, less what an earlier run already planned) stand beside
// it for information.
func writeTickTable(w io.Writer, rows []*row) {
	var any bool
	for _, r := range rows {
		for _, s := range []shape{r.Shapes[0], r.Shapes[1], r.OpenDay} {
			any = any || s.Activity.Touched > 0
		}
	}
	if !any {
		return
	}
	fmt.Fprintln(w, "\nA tick costs what changed: the incremental run after a day, per proposal its events touched, against the full run per proposal of the marketplace. "+
		"Touched: the proposals of the day's new jobs, of the jobs it closed or removed, the bids of the auctions it ended and those with a late interaction; "+
		"planned: the proposals the run planned (its \"changed proposals\" log line), for information.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| proposals | day | proposals its events touched | incremental s | µs per touched proposal | full run µs per proposal | ratio (≤ 3) | "+
		"proposals it planned | µs per planned proposal | ratio per planned | no-op incremental s (< 0.3) |")
	fmt.Fprintln(w, "|---:|---|---:|---:|---:|---:|---|---:|---:|---:|---|")
	for _, r := range rows {
		full := float64(r.Full.Wall.Microseconds()) / float64(r.Size)
		for _, s := range []shape{r.Shapes[0], r.Shapes[1], r.OpenDay} {
			if s.Activity.Touched == 0 {
				continue
			}
			per, x := tickCost(s.Incremental.Wall, s.Activity.Touched, full)
			perPlanned, xPlanned := tickCost(s.Incremental.Wall, s.Proposals, full)
			fmt.Fprintf(w, "| %s | %s | %d | %s | %.1f | %.2f | %.1f %s | %d | %.1f | %.1f | %s %s |\n", human(r.Size), s.Name, s.Activity.Touched,
				secs(s.Incremental.Wall), per, full, x, verdict(x <= maxTickRatio), s.Proposals, perPlanned, xPlanned,
				secs(r.NoopIncr.Wall), verdict(r.NoopIncr.Wall < maxNoopIncr))
		}
	}
}

// tickCost is an incremental run's µs per proposal of n, and that against
// a full run's µs per proposal; zeros when n is 0 or the full run was not
// measured.
func tickCost(wall time.Duration, n int64, full float64) (per, x float64) {
	if n <= 0 {
		return 0, 0
	}
	per = float64(wall.Microseconds()) / float64(n)
	if full > 0 {
		x = per / full
	}
	return per, x
}
