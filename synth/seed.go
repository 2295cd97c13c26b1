package synth

// Seed fills an empty database with a synthetic marketplace for demos, tests
// and load measurements. It is deterministic: the same seed, size and anchor
// give the same rows, ids included, whatever plans the server picks and
// whatever the session's settings, because every pseudo-random choice is
// hashint8extended(id*64 + salt, seed) of the row's own id, every generated
// id is computed (never drawn from a sequence in row order), and times are
// the anchor minus offsets in seconds that depend only on the seed and the
// size, computed in UTC. All of it is set-based SQL (sql/synth: seed_*.sql
// and the statements shared with Activity) in one transaction.
//
// The shape of the marketplace, for N proposals:
//
//   - jobs: 1 + two draws of 0..14 proposals each (15 on average), so about
//     N/15 jobs, posted over the 100 days before the anchor in id order.
//     Proposal ids are consecutive per job, in job order, and increase with
//     time within a job. Clients post about 3 jobs each.
//   - job status: open 33%, closed hired 31%, closed no_hire 14%, closed
//     expired 10%, closed inactivity 8%, removed tos_violation 3%, and 1% that
//     were closed no_hire and then reopened (open, no close). Jobs close 5% to
//     95% of the way from posting to the anchor, except 60 evenly spread jobs
//     picked for a recent close, of which the closed ones (about 40) closed
//     in the 10 minutes before the anchor: inside the default 15-minute
//     settle delay.
//   - proposals: submitted between posting and close (or the anchor), most
//     early; freelancers = N/8, picked with a mild skew to low ids (some heavy
//     users); 5% withdrawn (on closed jobs half before the close, a tenth
//     exactly at it, the rest after); 4% invitations, which cost nothing.
//   - fees: the job's requirement, 2..16 Connects, as a proposal_fee under
//     fee:<proposal>:base at submission; 3% of jobs changed the requirement
//     while live, and later proposals paid the new one.
//   - boosts: 25% of jobs have an auction, which ends 7 days after posting or
//     at the hire (still running, ended_at NULL, if that is after the
//     anchor); 3% of auctions are placebo auctions that charge nothing. 30%
//     of a boosted job's non-invitation proposals submitted before the end
//     bid, with 1..3 boost_fee rows (raises) of 1..25 Connects each under
//     boostfee:<proposal>:<n>. Ended auctions: 40% of bids won, 60% were
//     outbid at a time between submission and the end; running: 25% already
//     outbid, the rest undecided.
//   - interactions: 0..3 per proposal (30/45/20/5%), impression 40%, opened
//     25%, messaged 10%, shortlisted 5%, archived 10%, declined 10%, after
//     the submission and mostly soon after it, so on both sides of closes and
//     outbids; a tenth of an outbid proposal's interactions fall exactly at
//     outbid_at (about 0.5% of all); the hired proposal of a hired job got an
//     offer_sent just before the close.
//   - accounts: every freelancer bought one pack 105 days before the anchor,
//     sized to cover everything the seed charged them plus 10..80, and got
//     the free monthly grant of 10 Connects 60 and 30 days before it:
//     balances stay positive.
//   - online refunds: the contract's rules, written plainly (owed.sql, the
//     benchmark's plain reference uses them too), decide what is owed; the
//     marketplace's online path refunded it under
//     online:<proposal>:<component> a few seconds to minutes after the close
//     or the auction end, except MissingPercent% picked by hash, which the
//     job must find. The rules are evaluated for the proposals any rule could
//     entitle (seed_candidates.sql: jobs closed no_hire or removed, outbid
//     bids), a fifth of them, which decides the same at a fifth of the cost.
//   - planted discrepancies, N/2000 of each (at least 1 from N = 1000):
//     online refunds 1..3 Connects above the charge (amount_mismatch), and
//     online refunds of a hired job's base fee (unexpected_refund).
//   - balances: each account's ledger sum.
//
// Ids: ledger rows come in blocks, 4 per proposal for its fees (1..4N: base,
// then up to 3 boost fees), then 3 per freelancer for the purchase and the
// grants, then the refunds in proposal order; interactions are
// proposal*4 + slot (slot 3: the offer). Rows are produced in id order, so
// index inserts stay at the right edge. The identity sequences are moved past
// the ids, so rows written later get fresh ones.
//
// Speed: a load is bound by heap and index inserts, so the seed does nothing
// else row by row. When the role may set session_replication_role (a
// superuser, as in development), the foreign-key triggers are skipped and
// the same references are checked set-based at the end (seed_verify.sql).
// The tables are always truncated in the seed's transaction (they were found
// empty, or --force), so with wal_level = minimal the load writes no WAL.
//
// Salts of hashint8extended(id*64 + salt, seed): jobs 1-2 size, 3 posting
// jitter, 4 status, 5 close time, 6 boosted, 7 placebo, 8 requirement,
// 9 changed, 10 new requirement, 11 change time, 12 client, 13 hired
// proposal; proposals 20 invitation, 21 freelancer, 22 submission jitter,
// 23-25 withdrawal, 30 bid, 31-32 outcome, 33 raises, 34-36 boost amounts,
// 37-39 raise times, 40 interaction count, 41-49 kind, time and at-outbid
// per slot, 50 offer time, 51-52 missing online refund, 53-55 mismatch,
// 56 refund delay, 57-58 unexpected refund; freelancers 60 pack, 61 time
// shift. Activity uses the same salts for the same draws (it runs the same
// statements) and adds closures 14-16, auction ends 17-19 of jobs, and late
// interactions 63-65 of proposals; Backlog uses 61-62 of proposals.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"go.uber.org/zap"
)

// DefaultMissingPercent is the share of owed refunds the seed leaves missing
// unless told otherwise.
const DefaultMissingPercent = 5

// MaxSeedProposals bounds the seed's size (hash inputs are ids times 64 plus
// a salt, and must fit a bigint with room to spare).
const MaxSeedProposals = 1_000_000_000

// SeedOptions say what to generate.
type SeedOptions struct {
	// Seed selects the marketplace: the same seed, size and anchor give the
	// same rows.
	Seed int64
	// Proposals is how many proposals to generate (at least 1).
	Proposals int64
	// Anchor is the "now" the marketplace's times are relative to; the zero
	// value means the database's now(), truncated to the second.
	Anchor time.Time
	// MissingPercent (0..100) of the owed refunds are left missing for the
	// job to find; the others were refunded online. DefaultMissingPercent is
	// the usual value.
	MissingPercent int
	// Force overwrites: the marketplace tables and the job's own are emptied
	// first. Without it, a database with marketplace rows is refused.
	Force bool
}

// SeedStats count what Seed wrote.
type SeedStats struct {
	Seed              int64     `json:"seed"`
	Anchor            time.Time `json:"anchor"`
	Jobs              int64     `json:"jobs"`
	Proposals         int64     `json:"proposals"`
	Freelancers       int64     `json:"freelancers"`
	BoostAuctions     int64     `json:"boost_auctions"`
	BoostBids         int64     `json:"boost_bids"`
	Interactions      int64     `json:"interactions"`
	LedgerEntries     int64     `json:"ledger_entries"`
	RefundsOwed       int64     `json:"refunds_owed"`
	OnlineRefunds     int64     `json:"online_refunds"`
	MissingRefunds    int64     `json:"missing_refunds"`
	Discrepancies     int64     `json:"discrepancies"`
	AmountMismatches  int64     `json:"amount_mismatches"`
	UnexpectedRefunds int64     `json:"unexpected_refunds"`
	TookMS            int64     `json:"took_ms"`
}

// ErrNotEmpty means the marketplace already holds rows and Force was not set.
var ErrNotEmpty = errors.New("the marketplace is not empty")

// Seed statements of its own; the rest are shared with Activity (synth.go).
var (
	qSeedOccupied      = query("seed_occupied.sql")
	qSeedLock          = query("seed_lock.sql")
	qSeedTruncate      = query("seed_truncate.sql")
	qSeedTruncateEmpty = query("seed_truncate_empty.sql")
	qSeedJobs          = query("seed_jobs.sql")
	qSeedCandidates    = query("seed_candidates.sql")
	qSeedAccounts      = query("seed_accounts.sql")
	qSeedAnalyze       = query("seed_analyze.sql")
	qSeedAnalyzeFinal  = query("seed_analyze_final.sql")
	qSeedUnexpected    = query("seed_unexpected_refunds.sql")
	qSeedVerify        = query("seed_verify.sql")
)

// Seed generates the synthetic marketplace described in this file's comment
// in one transaction, planner statistics included.
func Seed(ctx context.Context, db *sqlx.DB, o SeedOptions, log *zap.Logger) (SeedStats, error) {
	start := time.Now()
	if o.Proposals < 1 || o.Proposals > MaxSeedProposals {
		return SeedStats{}, fmt.Errorf("seed: proposals must be between 1 and %d, not %d", int64(MaxSeedProposals), o.Proposals)
	}
	if o.MissingPercent < 0 || o.MissingPercent > 100 {
		return SeedStats{}, fmt.Errorf("seed: missing percent must be between 0 and 100, not %d", o.MissingPercent)
	}
	p := o.Proposals
	freelancers := max(1, p/8)
	jobCandidates := min(p, p/12+1000) // jobs average 15 proposals: enough to reach p
	var planted int64
	if p >= 1000 {
		planted = max(1, p/2000)
	}

	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return SeedStats{}, fmt.Errorf("seed: %w", err)
	}
	defer tx.Rollback()

	if err := setLocal(ctx, tx, "256MB"); err != nil {
		return SeedStats{}, fmt.Errorf("seed: %w", err)
	}

	// Foreign keys are checked once, set-based, at the end (seed_verify.sql)
	// instead of row by row, when the role may skip the triggers.
	bulkChecks := false
	if _, err := tx.ExecContext(ctx, "SAVEPOINT seed_replica"); err != nil {
		return SeedStats{}, fmt.Errorf("seed: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "SET LOCAL session_replication_role = replica"); err == nil {
		bulkChecks = true
		_, err = tx.ExecContext(ctx, "RELEASE SAVEPOINT seed_replica")
		if err != nil {
			return SeedStats{}, fmt.Errorf("seed: %w", err)
		}
	} else if _, err := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT seed_replica"); err != nil {
		return SeedStats{}, fmt.Errorf("seed: %w", err)
	} else {
		log.Info("seed: the role may not set session_replication_role; foreign keys are checked row by row (slower)")
	}

	if _, err := tx.ExecContext(ctx, qSeedLock); err != nil {
		var pqErr *pq.Error
		if errors.As(err, &pqErr) && pqErr.Code == "42P01" {
			return SeedStats{}, fmt.Errorf("seed: the marketplace tables do not exist (run migrate --with-marketplace first): %w", err)
		}
		return SeedStats{}, fmt.Errorf("seed: lock the marketplace: %w", err)
	}
	var occupied string
	if err := tx.GetContext(ctx, &occupied, qSeedOccupied); err != nil {
		return SeedStats{}, fmt.Errorf("seed: %w", err)
	}
	if occupied != "" && !o.Force {
		return SeedStats{}, fmt.Errorf("%w: table %s has rows; --force overwrites (it empties the marketplace tables and the job's reconciler_runs and reconciler_refunds first)", ErrNotEmpty, occupied)
	}
	truncate, what := qSeedTruncateEmpty, "the empty marketplace tables (new files: no WAL with wal_level=minimal)"
	if o.Force {
		truncate, what = qSeedTruncate, "the marketplace and the job's tables"
	}
	t0 := time.Now()
	if _, err := tx.ExecContext(ctx, truncate); err != nil {
		return SeedStats{}, fmt.Errorf("seed: empty the tables: %w", err)
	}
	log.Info("seed: emptied "+what, zap.Duration("took", time.Since(t0)))

	anchor := o.Anchor
	if anchor.IsZero() {
		if err := tx.GetContext(ctx, &anchor, qAnchor); err != nil {
			return SeedStats{}, fmt.Errorf("seed: %w", err)
		}
	}
	anchor = anchor.UTC()
	st := SeedStats{Seed: o.Seed, Anchor: anchor, Freelancers: freelancers}
	log.Info("seed: generating", zap.Int64("seed", o.Seed), zap.Int64("proposals", p),
		zap.Time("anchor", anchor), zap.Int("missing_percent", o.MissingPercent))

	step := func(name string, q string, args ...any) (int64, error) {
		t0 := time.Now()
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return 0, fmt.Errorf("seed %s: %w", name, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("seed %s: %w", name, err)
		}
		log.Info("seed: "+name, zap.Int64("rows", n), zap.Duration("took", time.Since(t0)))
		return n, nil
	}

	type stepDef struct {
		name string
		q    string
		args []any
		into *int64
	}
	var planned, feeRows, accountRows, candidates int64
	steps := []stepDef{
		{"base", qBase, []any{freelancers}, nil},
		{"plan jobs", qSeedJobs, []any{o.Seed, p, jobCandidates, anchor}, &planned},
		{"analyze plan", "ANALYZE synth_jobs", nil, nil},
		{"jobs", qInsertJobs, nil, &st.Jobs},
		{"proposals", qProposals, []any{o.Seed, anchor}, &st.Proposals},
		{"boost auctions", qAuctions, nil, &st.BoostAuctions},
		{"boost bids", qBids, []any{o.Seed, anchor}, &st.BoostBids},
		{"interactions", qInteractions, []any{o.Seed, anchor}, &st.Interactions},
		{"fees", qFees, []any{o.Seed, anchor}, &feeRows},
		{"purchases and grants", qSeedAccounts, []any{o.Seed, anchor, freelancers, p}, &accountRows},
		{"analyze", qSeedAnalyze, nil, nil},
		{"refund candidates", qSeedCandidates, nil, &candidates},
		{"analyze candidates", "ANALYZE synth_candidates", nil, nil},
	}
	for _, s := range steps {
		n, err := step(s.name, s.q, s.args...)
		if err != nil {
			return SeedStats{}, err
		}
		if s.into != nil {
			*s.into = n
		}
	}
	if st.Proposals != p {
		return SeedStats{}, fmt.Errorf("seed: planned %d proposals, generated %d (a bug in seed_jobs.sql)", p, st.Proposals)
	}

	// What the rules say is owed, and the online refunds of most of it.
	t0 = time.Now()
	owed, written, mismatched, err := onlineRefunds(ctx, tx, o.Seed, anchor, o.MissingPercent, planted)
	if err != nil {
		return SeedStats{}, fmt.Errorf("seed: %w", err)
	}
	log.Info("seed: online refunds", zap.Int64("owed", owed), zap.Int64("rows", written),
		zap.Int64("left_missing", owed-written), zap.Int64("amount_mismatch", mismatched),
		zap.Duration("took", time.Since(t0)))
	st.RefundsOwed, st.OnlineRefunds, st.AmountMismatches = owed, written, mismatched
	st.MissingRefunds = owed - written

	unexpected, err := step("unexpected refunds", qSeedUnexpected, o.Seed, anchor, planted)
	if err != nil {
		return SeedStats{}, err
	}
	st.UnexpectedRefunds = unexpected
	st.OnlineRefunds += unexpected
	st.Discrepancies = st.AmountMismatches + st.UnexpectedRefunds
	st.LedgerEntries = feeRows + accountRows + st.OnlineRefunds

	if _, err := step("balances", qBalances); err != nil {
		return SeedStats{}, err
	}
	if _, err := step("identity sequences", qSequences); err != nil {
		return SeedStats{}, err
	}
	if _, err := step("analyze ledger and balances", qSeedAnalyzeFinal); err != nil {
		return SeedStats{}, err
	}
	if bulkChecks {
		t0 := time.Now()
		var violated string
		if err := tx.GetContext(ctx, &violated, qSeedVerify); err != nil {
			return SeedStats{}, fmt.Errorf("seed verify: %w", err)
		}
		if violated != "" {
			return SeedStats{}, fmt.Errorf("seed: generated rows break the foreign key %s (a bug in the seed); nothing was written", violated)
		}
		log.Info("seed: foreign keys verified", zap.Duration("took", time.Since(t0)))
	}
	t0 = time.Now()
	if err := tx.Commit(); err != nil {
		return SeedStats{}, fmt.Errorf("seed commit: %w", err)
	}
	log.Info("seed: committed", zap.Duration("took", time.Since(t0)))

	st.TookMS = time.Since(start).Milliseconds()
	log.Info("seed: done", zap.Int64("jobs", st.Jobs), zap.Int64("proposals", st.Proposals),
		zap.Int64("ledger_entries", st.LedgerEntries), zap.Int64("missing_refunds", st.MissingRefunds),
		zap.Int64("discrepancies", st.Discrepancies), zap.Duration("took", time.Since(start)))
	return st, nil
}
