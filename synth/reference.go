package synth

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/connects/connects-reconciler/reconcile"
	"github.com/connects/connects-reconciler/reconcile/postgres"
)

// The benchmark's statements. The two references are one text
// (reference.sql) around two definitions of what is owed.
var (
	qPlainReference = renderReference(render("owed.sql", everyProposal))
	qFragmentRef    = renderReference(query("owed_policy.sql"))
	qFingerprint    = query("fingerprint.sql")
	qBacklog        = query("backlog.sql")
	qExportCopy     = query("export_copy.sql")
)

// renderReference renders reference.sql around a CTE "owed".
func renderReference(owed string) string {
	return files.Render("reference.sql", struct{ Owed string }{owed})
}

// Written is what a reference statement wrote.
type Written struct {
	Refunds  int64 `db:"refunds"`
	Connects int64 `db:"connects"`
	Balances int64 `db:"balances"`
}

// PlainReference writes every missing refund the contract's rules (default
// settings) say is owed, with the balance changes, in one plain set-based
// INSERT ... SELECT ... WHERE NOT EXISTS statement over every proposal
// (sql/synth/reference.sql with owed.sql), written apart from the job's
// policy: the
// limit the benchmark measures the job against. Events at or after cutoff are
// not settled. Not for production use: no safety limits, no batches, no audit
// rows, no defect detection.
func PlainReference(ctx context.Context, db *sqlx.DB, cutoff time.Time) (Written, error) {
	var w Written
	if err := db.GetContext(ctx, &w, qPlainReference, cutoff); err != nil {
		return Written{}, fmt.Errorf("plain reference: %w", err)
	}
	return w, nil
}

// FragmentReference writes every refund the job's own policy fragment says
// is owed and missing, in one statement over every proposal (the same
// sql/synth/reference.sql with owed_policy.sql): the job's policy, defect
// checks included, without batches or round trips. The benchmark's second
// column.
func FragmentReference(ctx context.Context, db *sqlx.DB, p reconcile.Policy, cutoff time.Time) (Written, error) {
	q, args, err := postgres.PolicyStatement(qFragmentRef, p, cutoff)
	if err != nil {
		return Written{}, fmt.Errorf("fragment reference: %w", err)
	}
	var w Written
	if err := db.GetContext(ctx, &w, q, args...); err != nil {
		return Written{}, fmt.Errorf("fragment reference: %w", err)
	}
	return w, nil
}

// Fingerprint identifies the set of refunds in a ledger, whoever wrote them.
type Fingerprint struct {
	Refunds  int64  `db:"refunds"`
	Connects int64  `db:"connects"`
	MD5      string `db:"md5"`
}

// RefundFingerprint returns the count, total and md5 of every refund's
// (proposal, component, amount, account), in order: databases seeded alike
// hold the same refunds exactly when their fingerprints are equal.
func RefundFingerprint(ctx context.Context, db *sqlx.DB) (Fingerprint, error) {
	var f Fingerprint
	if err := db.GetContext(ctx, &f, qFingerprint); err != nil {
		return Fingerprint{}, fmt.Errorf("refund fingerprint: %w", err)
	}
	return f, nil
}

// Backlog takes away percent of the online path's refunds of a seeded
// marketplace (by hash of the seed), with their balance changes: the state
// after the online path failed for a long time. It returns how many refunds
// it took away.
func Backlog(ctx context.Context, db *sqlx.DB, seed int64, percent float64) (int64, error) {
	if percent < 0 || percent > 100 {
		return 0, fmt.Errorf("backlog: percent must be between 0 and 100, not %g", percent)
	}
	var n int64
	if err := db.GetContext(ctx, &n, qBacklog, seed, percent); err != nil {
		return 0, fmt.Errorf("backlog: %w", err)
	}
	return n, nil
}

// ExportCopyQuery is a SELECT of the data of the finance export's rows (every
// refund in the ledger), in the export's order, for
// COPY (ExportCopyQuery) TO STDOUT: the bound the benchmark compares the
// export with.
func ExportCopyQuery() string { return qExportCopy }
