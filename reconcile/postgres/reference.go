package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/connects/connects-reconciler/reconcile"
)

// Reference writes every refund the policy says is owed and missing, with
// the balance changes, in one set-based statement over every proposal
// (sql/queries/reference.sql): the database's own limit for the work a full
// run does, which the benchmark compares the job with. It returns the refunds
// written and the Connects they return. Not for production use: it has no
// safety limits, no batches and no audit rows.
func Reference(ctx context.Context, db *sqlx.DB, p reconcile.Policy, cutoff time.Time) (refunds, connects int64, err error) {
	var out struct {
		Refunds  int64 `db:"refunds"`
		Connects int64 `db:"connects"`
		Balances int64 `db:"balances"`
	}
	if err := db.GetContext(ctx, &out, statement("reference.sql", byAll), policyArgs(p, cutoff)...); err != nil {
		return 0, 0, fmt.Errorf("reference: %w", translate(err))
	}
	return out.Refunds, out.Connects, nil
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
	if err := db.GetContext(ctx, &f, qRefundFingerprint); err != nil {
		return Fingerprint{}, fmt.Errorf("refund fingerprint: %w", translate(err))
	}
	return f, nil
}

var qRefundFingerprint = query("reference_fingerprint.sql")
