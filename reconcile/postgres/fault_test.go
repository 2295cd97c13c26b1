package postgres_test

// Fault tests of the store and the run loop against a real PostgreSQL: the
// database errors that must be retried, connections killed by the server or
// cut by a proxy (in-process toxiproxy), a commit whose acknowledgement never
// arrives, the marketplace's online path writing the same refunds, and a
// balance row locked by another session. Each ends by checking the ledger
// against what one clean run writes. docs/reliability.md has the counts.

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/toxics"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/rs/zerolog"

	"github.com/connects/connects-reconciler/reconcile"
	"github.com/connects/connects-reconciler/reconcile/postgres"
)

// injectFaults makes the first n refund inserts by the job's sessions
// (application_name connects-reconciler) fail with SQLSTATE code, through a
// trigger; a sequence counts the shots, since it is not rolled back with the
// failed transaction.
func injectFaults(t *testing.T, db *sqlx.DB, code string, n int) {
	t.Helper()
	db.MustExec(fmt.Sprintf(`
	CREATE SEQUENCE fault_shots;
	CREATE FUNCTION fault_inject() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
	    IF NEW.entry_type = 'refund' AND current_setting('application_name') = 'connects-reconciler'
	       AND nextval('fault_shots') <= %d THEN
	        RAISE EXCEPTION 'injected fault %s' USING ERRCODE = '%s';
	    END IF;
	    RETURN NEW;
	END $$;
	CREATE TRIGGER fault_inject BEFORE INSERT ON connects_ledger FOR EACH ROW EXECUTE FUNCTION fault_inject();`, n, code, code))
}

// A serialization failure, a deadlock, an administrator's shutdown and a lost
// connection, raised by the server inside the apply statement: within the
// retry budget the run succeeds; one past it the run fails with nothing of
// the failed batch written, and the next run completes the work.
func TestFaultTransientErrorsRetried(t *testing.T) {
	t.Parallel()
	for _, code := range []string{"40001", "40P01", "57P01", "08006"} {
		t.Run(code, func(t *testing.T) {
			t.Parallel()
			f := newFaultDB(t, 1500, 50)
			const retries = 3
			injectFaults(t, f.db, code, 2*retries+1) // retries+1 for run 1, retries for run 2
			log := newRetryLog(t)
			r := f.reconciler(f.open(f.url, postgres.Timeouts{}), log.Logger, reconcile.Options{Retries: retries})

			// Run 1: the first batch fails retries+1 times: past the budget.
			id1 := runID("transient1")
			_, err := r.Run(context.Background(), id1)
			if err == nil || !errors.Is(err, reconcile.ErrTransient) || !strings.Contains(err.Error(), "injected fault "+code) {
				t.Fatalf("run 1: got %v, want the injected transient error %s past the retry budget", err, code)
			}
			if got := log.retries(); got != retries {
				t.Errorf("run 1: %d retries, want %d", got, retries)
			}
			if rec := f.record(id1); rec.Status != reconcile.StatusFailed || rec.Issued != 0 {
				t.Errorf("run 1 record: got %+v, want failed with nothing issued", rec)
			}
			if n := len(f.jobRefunds()); n != 0 {
				t.Errorf("run 1 left %d refunds from its failed batch", n)
			}
			f.checkInvariants()

			// Run 2: the first batch fails retries times more, then goes
			// through: the budget is enough.
			id2 := runID("transient2")
			res, err := r.Run(context.Background(), id2)
			if err != nil {
				t.Fatalf("run 2: %v", err)
			}
			if got := log.retries(); got != 2*retries {
				t.Errorf("run 2: %d retries in all, want %d", got, 2*retries)
			}
			if rec := f.record(id2); rec.Status != reconcile.StatusSucceeded || int(rec.Issued) != len(f.want) || len(issuedOf(t, res)) != len(f.want) {
				t.Errorf("run 2: record %+v, issued %d, want succeeded with %d", rec, len(issuedOf(t, res)), len(f.want))
			}
			f.checkComplete(false)
		})
	}
}

// terminator ends the job's backends (pg_terminate_backend, SQLSTATE 57P01 or
// a dead socket to the client) while run id applies, each time only after
// the run wrote a batch since the last cut: so every batch meets at most one
// fault and the retry budget always suffices.
func terminate(t *testing.T, f *faultDB, id string, cuts int, done <-chan struct{}) (ended, hit int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(5, 6))
	var last int64 = -1
	for ended < cuts {
		var issued int64
		if err := f.db.Get(&issued, `SELECT refunds_issued FROM reconciler_runs WHERE id = $1`, id); err != nil || issued == last {
			select {
			case <-done:
				return ended, hit
			case <-time.After(time.Millisecond):
			}
			continue
		}
		time.Sleep(time.Duration(rng.IntN(4000)) * time.Microsecond) // anywhere in the batch cycle
		var r struct {
			Ended  int `db:"ended"`
			Active int `db:"active"`
		}
		if err := f.db.Get(&r, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS ended,
		        count(*) FILTER (WHERE state = 'active') AS active
		    FROM pg_stat_activity WHERE application_name = 'connects-reconciler' AND datname = current_database()`); err != nil {
			t.Errorf("terminate: %v", err)
			return ended, hit
		}
		if r.Ended > 0 {
			ended++
			if r.Active > 0 {
				hit++
			}
		}
		last = issued
	}
	return ended, hit
}

// The server ends the job's connections again and again while it applies:
// every cut is retried, the run succeeds, and nothing is doubled.
func TestFaultTerminateBackend(t *testing.T) {
	t.Parallel()
	f := newFaultDB(t, 4000, 60)
	log := newRetryLog(t)
	r := f.reconciler(f.open(f.url, postgres.Timeouts{}), log.Logger, reconcile.Options{ApplyBatchSize: 3, Retries: 2})
	id := runID("terminate")
	done := make(chan struct{})
	var res *reconcile.Result
	var err error
	go func() {
		defer close(done)
		res, err = r.Run(context.Background(), id)
	}()
	cuts := 12
	ended, hit := terminate(t, f, id, cuts, done)
	<-done
	if err != nil {
		t.Fatalf("run: %v (after %d terminations)", err, ended)
	}
	if ended < cuts {
		t.Errorf("the run ended after %d of %d terminations: make it longer", ended, cuts)
	}
	t.Logf("terminated the job's backends %d times (%d while a statement ran), %d retries, %d refunds written, %d skipped",
		ended, hit, log.retries(), len(issuedOf(t, res)), len(skippedOf(t, res)))
	if log.retries() == 0 {
		t.Error("no retry was needed: the terminations hit nothing")
	}
	if rec := f.record(id); rec.Status != reconcile.StatusSucceeded {
		t.Errorf("run record: %+v, want succeeded", rec)
	}
	f.checkComplete(false)
}

// proxy is an in-process toxiproxy in front of the test server.
type proxy struct {
	t *testing.T
	p *toxiproxy.Proxy
}

func newProxy(t *testing.T, upstream string) *proxy {
	t.Helper()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, "pg", "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		t.Fatalf("proxy: %v", err)
	}
	t.Cleanup(p.Stop)
	return &proxy{t: t, p: p}
}

// add puts a toxic on every connection, present and future.
func (p *proxy) add(name, typ, stream, attributes string) {
	p.t.Helper()
	if _, err := p.p.Toxics.AddToxicJson(strings.NewReader(fmt.Sprintf(
		`{"name": %q, "type": %q, "stream": %q, "attributes": %s}`, name, typ, stream, attributes))); err != nil {
		p.t.Fatalf("add toxic %s: %v", name, err)
	}
}

func (p *proxy) remove(name string) {
	p.t.Helper()
	if err := p.p.Toxics.RemoveToxic(context.Background(), name); err != nil {
		p.t.Fatalf("remove toxic %s: %v", name, err)
	}
}

func serverAddr(t *testing.T, f *faultDB) string {
	t.Helper()
	u := strings.TrimPrefix(strings.TrimPrefix(f.url, "postgres://"), "postgresql://")
	if at := strings.LastIndex(u, "@"); at >= 0 {
		u = u[at+1:]
	}
	host, _, _ := strings.Cut(u, "/")
	if !strings.Contains(host, ":") {
		host += ":5432"
	}
	return host
}

// Cuts and stalls through a proxy while the job applies. Kept up, each one
// exhausts the retry budget: the run fails (it cannot even record so; the
// next run closes its record as abandoned). Lifted after the first retry, the
// run recovers and completes the work. Nothing is doubled either way.
func TestFaultProxyCuts(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, typ, stream, attributes string }{
		{"reset_peer", "reset_peer", "upstream", `{"timeout": 0}`},        // TCP RST on the next byte sent
		{"stall_then_close", "timeout", "downstream", `{"timeout": 300}`}, // no answer for 300ms, then closed
		{"limit_data", "limit_data", "downstream", `{"bytes": 64}`},       // closed after 64 more bytes
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFaultDB(t, 2500, 60)
			px := newProxy(t, serverAddr(t, f))
			log := newRetryLog(t)
			// Timeouts: connecting through a stalled proxy must fail too.
			db := f.open(f.withHost(px.p.Listen), postgres.Timeouts{Connect: time.Second})
			r := f.reconciler(db, log.Logger, reconcile.Options{ApplyBatchSize: 5, Retries: 3, RetryBackoff: 100 * time.Millisecond})

			// Run 1: the fault stays: past the retry budget.
			id1 := runID("cut1")
			done := make(chan struct{})
			var err error
			go func() { defer close(done); _, err = r.Run(context.Background(), id1) }()
			if !f.waitApplying(id1, done) {
				t.Fatalf("run 1 ended before it applied anything: %v", err)
			}
			px.add(c.name, c.typ, c.stream, c.attributes)
			<-done
			px.remove(c.name)
			if err == nil || !errors.Is(err, reconcile.ErrTransient) {
				t.Fatalf("run 1: got %v, want a transient error past the retry budget", err)
			}
			retries1 := log.retries()
			if retries1 < 3 {
				t.Errorf("run 1: %d retries, want at least the 3 of the budget", retries1)
			}
			written1 := len(f.jobRefunds())
			f.checkInvariants()

			// Run 2: the fault is lifted after the first retry.
			id2 := runID("cut2")
			done = make(chan struct{})
			var res *reconcile.Result
			go func() { defer close(done); res, err = r.Run(context.Background(), id2) }()
			if !f.waitApplying(id2, done) {
				t.Fatalf("run 2 ended before it applied anything: %v", err)
			}
			px.add(c.name, c.typ, c.stream, c.attributes)
			for log.retries() == retries1 {
				select {
				case <-done:
					t.Fatalf("run 2 ended before it retried: %v", err)
				case <-time.After(time.Millisecond):
				}
			}
			px.remove(c.name)
			<-done
			if err != nil {
				t.Fatalf("run 2: %v", err)
			}
			rec1, rec2 := f.record(id1), f.record(id2)
			if rec1.Status != "abandoned" && rec1.Status != reconcile.StatusFailed {
				t.Errorf("run 1 record: %+v, want abandoned (it could not record its failure) or failed", rec1)
			}
			if rec2.Status != reconcile.StatusSucceeded {
				t.Errorf("run 2 record: %+v, want succeeded", rec2)
			}
			t.Logf("run 1: %d refunds then cut (%d retries, status %s); run 2: %d more, %d retries, %d skipped",
				written1, retries1, rec1.Status, len(issuedOf(t, res)), log.retries()-retries1, len(skippedOf(t, res)))
			f.checkComplete(false)
		})
	}
}

// commitAckToxic closes the client's connection instead of passing on the
// server's answer to a COMMIT, when its plan says so: the server committed,
// the client never learns it. Its state lives in ackPlans, by key, because
// toxiproxy makes a fresh toxic per connection from the attributes.
type commitAckToxic struct {
	Key string `json:"key"`
}

// ackPlan says which COMMIT answers, counted across all connections, are
// lost.
type ackPlan struct {
	mu   sync.Mutex
	seen int
	lose map[int]bool
	lost int
}

var ackPlans sync.Map // key -> *ackPlan

// commitComplete is the backend's CommandComplete message for a COMMIT.
var commitComplete = []byte("C\x00\x00\x00\x0bCOMMIT\x00")

func init() { toxics.Register("lose_commit_ack", new(commitAckToxic)) }

// Pipe implements toxics.Toxic.
func (t *commitAckToxic) Pipe(stub *toxics.ToxicStub) {
	v, _ := ackPlans.Load(t.Key)
	plan := v.(*ackPlan)
	for {
		select {
		case <-stub.Interrupt:
			return
		case c := <-stub.Input:
			if c == nil {
				stub.Close()
				return
			}
			if bytes.Contains(c.Data, commitComplete) && plan.drop() {
				stub.Close() // the answer is dropped and the client's socket closed
				return
			}
			stub.Output <- c
		}
	}
}

func (p *ackPlan) drop() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen++
	if p.lose[p.seen] {
		p.lost++
		return true
	}
	return false
}

// A batch's COMMIT goes through, but the answer is lost with the connection:
// the run loop sees a transient error and applies the batch again, which
// finds its refunds already there and writes nothing. Each refund is in the
// ledger once, its balance moved once, its audit row and the run's counters
// written once.
func TestFaultLostCommitAck(t *testing.T) {
	t.Parallel()
	f := newFaultDB(t, 1500, 60)
	px := newProxy(t, serverAddr(t, f))
	// COMMIT 1 records the run; 2 and up are apply batches. Lose three.
	plan := &ackPlan{lose: map[int]bool{3: true, 6: true, 7: true}}
	key := runID("ack")
	ackPlans.Store(key, plan)
	px.add("lose_commit_ack", "lose_commit_ack", "downstream", fmt.Sprintf(`{"key": %q}`, key))

	log := newRetryLog(t)
	db := f.open(f.withHost(px.p.Listen), postgres.Timeouts{})
	r := f.reconciler(db, log.Logger, reconcile.Options{ApplyBatchSize: 4})
	if len(f.want) < 4*8 {
		t.Fatalf("only %d refunds owed: want at least 8 batches", len(f.want))
	}
	id := runID("lostack")
	res, err := r.Run(context.Background(), id)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if plan.lost != 3 {
		t.Fatalf("%d commit acknowledgements lost, want 3", plan.lost)
	}
	if got := log.retries(); got != 3 {
		t.Errorf("%d retries, want one per lost acknowledgement (3)", got)
	}
	rec := f.record(id)
	if rec.Status != reconcile.StatusSucceeded || int(rec.Issued) != len(f.want) {
		t.Errorf("run record: %+v, want succeeded with %d issued", rec, len(f.want))
	}
	// The retried batches wrote nothing themselves, but they find what the
	// attempts whose answer was lost wrote under this run: the result lists
	// every refund as written and none as skipped.
	if len(issuedOf(t, res)) != len(f.want) || len(skippedOf(t, res)) != 0 {
		t.Errorf("result: %d written, %d skipped; want %d written, 0 skipped", len(issuedOf(t, res)), len(skippedOf(t, res)), len(f.want))
	}
	f.checkComplete(false)
}

// onlineWriter is the marketplace's online path: it refunds one component
// per transaction under its own key, moving the balance in the same
// transaction, as the marketplace does.
func onlineWriter(ctx context.Context, db *sqlx.DB, refunds []reconcile.Refund, seed uint64) (wrote, lost int, err error) {
	rng := rand.New(rand.NewPCG(seed, seed))
	for _, r := range refunds {
		select {
		case <-ctx.Done():
			return wrote, lost, nil
		case <-time.After(time.Duration(rng.IntN(6000)) * time.Microsecond): // about the job's pace
		}
		tx, err := db.BeginTxx(ctx, nil)
		if err != nil {
			return wrote, lost, err
		}
		var id int64
		err = tx.GetContext(ctx, &id, `INSERT INTO connects_ledger (freelancer_id, amount, entry_type, proposal_id, component, idempotency_key)
		    VALUES ($1, $2, 'refund', $3, $4, $5) ON CONFLICT DO NOTHING RETURNING id`,
			r.FreelancerID, r.Charged, r.ProposalID, string(r.Component), fmt.Sprintf("test-online:%d:%s", r.ProposalID, r.Component))
		switch {
		case err == nil:
			if _, err := tx.ExecContext(ctx, `UPDATE connects_balances SET balance = balance + $2 WHERE freelancer_id = $1`,
				r.FreelancerID, r.Charged); err != nil {
				tx.Rollback()
				return wrote, lost, err
			}
			wrote++
		case errors.Is(err, sql.ErrNoRows):
			lost++ // the job was first
		default:
			tx.Rollback()
			return wrote, lost, err
		}
		if err := tx.Commit(); err != nil {
			return wrote, lost, err
		}
	}
	return wrote, lost, nil
}

// The online path writes the same missing refunds under its own keys while
// runs go on, in the job's order (so they collide) and in a random one. Each
// component ends with exactly one refund, no run fails or even retries
// because of it, and balances stay exact.
func TestFaultOnlineRace(t *testing.T) {
	t.Parallel()
	f := newFaultDB(t, 2500, 100)
	refunds := make([]reconcile.Refund, 0, len(f.want))
	for _, r := range f.want {
		refunds = append(refunds, r)
	}
	sortRefunds(refunds)
	// Writer 1 takes the first half in the job's order, writer 2 the second
	// half shuffled, so the job meets each of them.
	half := len(refunds) / 2
	first, second := refunds[:half], append([]reconcile.Refund(nil), refunds[half:]...)
	rng := rand.New(rand.NewPCG(11, 12))
	rng.Shuffle(len(second), func(i, j int) { second[i], second[j] = second[j], second[i] })

	online := sqlx.MustOpen("postgres", f.url)
	defer online.Close()
	log := newRetryLog(t)
	r := f.reconciler(f.open(f.url, postgres.Timeouts{}), log.Logger, reconcile.Options{ApplyBatchSize: 4})

	// The first run plans everything; the online path starts once it
	// applies, catches up with it (writer 1) or jumps ahead of it (writer 2).
	var runs, issued, skipped int
	collect := func(res *reconcile.Result, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("run %d: %v (a run must not fail because the online path wrote the same refunds)", runs, err)
		}
		runs++
		issued += len(issuedOf(t, res))
		skipped += len(skippedOf(t, res))
	}
	id := runID("race")
	done := make(chan struct{})
	var res1 *reconcile.Result
	var err1 error
	go func() { defer close(done); res1, err1 = r.Run(context.Background(), id) }()
	if !f.waitApplying(id, done) {
		t.Fatalf("run 1 ended before it applied anything: %v", err1)
	}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var wrote, lost atomic.Int64
	for i, part := range [][]reconcile.Refund{first, second} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, l, err := onlineWriter(ctx, online, part, uint64(i))
			wrote.Add(int64(w))
			lost.Add(int64(l))
			if err != nil {
				t.Errorf("online path: %v", err)
			}
		}()
	}
	<-done
	collect(res1, err1)
	collect(r.Run(context.Background(), runID("race")))
	stop()
	wg.Wait()
	collect(r.Run(context.Background(), runID("race-last")))
	if got := log.retries(); got != 0 {
		t.Errorf("%d retries: the online path made batches fail", got)
	}
	if int(wrote.Load())+issued != len(f.want) {
		t.Errorf("online wrote %d, the job %d: together %d, want %d", wrote.Load(), issued, int(wrote.Load())+issued, len(f.want))
	}
	t.Logf("%d owed; online path wrote %d and found %d already written by the job; %d runs wrote %d and skipped %d written online meanwhile",
		len(f.want), wrote.Load(), lost.Load(), runs, issued, skipped)
	if lost.Load()+int64(skipped) == 0 {
		t.Error("the job and the online path never met: the race was not run")
	}
	f.checkComplete(true)
}

// A balance row locked by another session (SELECT ... FOR UPDATE in an open
// transaction) for the whole run: the account's refunds are set aside and
// every other refund is written; the set-aside batch then waits
// lock_timeout (retried with backoff, the timeout being transient) or
// statement_timeout (not retried), and the run fails cleanly: that batch is
// rolled back whole, the run recorded failed. After the lock is released
// the next run completes the work.
func TestFaultBalanceLocked(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		to      postgres.Timeouts
		code    string
		retries int
	}{
		{"lock_timeout", postgres.Timeouts{Lock: 300 * time.Millisecond, Statement: time.Minute}, "55P03", 3},
		{"statement_timeout", postgres.Timeouts{Statement: time.Second}, "57014", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFaultDB(t, 1500, 60)
			refunds := make([]reconcile.Refund, 0, len(f.want))
			for _, r := range f.want {
				refunds = append(refunds, r)
			}
			sortRefunds(refunds)
			victim := refunds[len(refunds)/2].FreelancerID
			var theirs int
			for _, r := range refunds {
				if r.FreelancerID == victim {
					theirs++
				}
			}

			holder, err := f.db.Beginx()
			if err != nil {
				t.Fatal(err)
			}
			defer holder.Rollback()
			var bal int64
			if err := holder.Get(&bal, `SELECT balance FROM connects_balances WHERE freelancer_id = $1 FOR UPDATE`, victim); err != nil {
				t.Fatal(err)
			}

			log := newRetryLog(t)
			r := f.reconciler(f.open(f.url, c.to), log.Logger, reconcile.Options{ApplyBatchSize: 5, Retries: 3, RetryBackoff: 10 * time.Millisecond})
			id := runID("locked")
			start := time.Now()
			_, err = r.Run(context.Background(), id)
			took := time.Since(start)
			var pqErr *pq.Error
			if !errors.As(err, &pqErr) || string(pqErr.Code) != c.code {
				t.Fatalf("run: got %v, want SQLSTATE %s", err, c.code)
			}
			if log.retries() != c.retries {
				t.Errorf("the set-aside batch was retried %d times, want %d: %v", log.retries(), c.retries, err)
			}
			bound := max(c.to.Lock, c.to.Statement)
			if c.to.Lock > 0 {
				bound = c.to.Lock
			}
			if took < bound || took > time.Duration(c.retries+1)*bound+30*time.Second {
				t.Errorf("the run took %s, want at least the timeout %s and not much more than %d of them", took, bound, c.retries+1)
			}
			rec := f.record(id)
			if rec.Status != reconcile.StatusFailed || rec.Error == nil || !strings.Contains(*rec.Error, c.code) && !strings.Contains(*rec.Error, "timeout") {
				t.Errorf("run record: %+v, want failed with the timeout", rec)
			}
			written := f.jobRefunds()
			for _, r := range refunds {
				if r.FreelancerID == victim {
					if _, ok := written[componentKey(r.ProposalID, r.Component)]; ok {
						t.Errorf("refund %s of the locked account was written", componentKey(r.ProposalID, r.Component))
					}
				}
			}
			if int(rec.Issued) != len(written) || len(written) != len(f.want)-theirs {
				t.Errorf("run issued %d, ledger holds %d of %d: want all but the locked account's %d", rec.Issued, len(written), len(f.want), theirs)
			}
			f.checkInvariants()
			t.Logf("waited %s on the locked balance (%s), failed with %d of %d refunds written",
				took.Round(time.Millisecond), c.name, len(written), len(f.want))

			holder.Rollback()
			if _, err := r.Run(context.Background(), runID("unlocked")); err != nil {
				t.Fatalf("run after the lock was released: %v", err)
			}
			f.checkComplete(false)
		})
	}
}

func sortRefunds(rs []reconcile.Refund) {
	slices.SortFunc(rs, func(a, b reconcile.Refund) int {
		return cmp.Or(cmp.Compare(a.ProposalID, b.ProposalID), cmp.Compare(a.Component, b.Component))
	})
}
