package synth

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// The benchmark's live load: the marketplace's own transactions.
var (
	qLiveAccounts = query("live_accounts.sql")
	qLiveBalance  = query("live_balance.sql")
	qLiveLedger   = query("live_ledger.sql")
	qBalancesOff  = query("balances_off.sql")
)

// LiveAccounts returns up to n accounts with the most refunds missing: where
// the benchmark's live load buys Connects.
func LiveAccounts(ctx context.Context, db *sqlx.DB, n int) ([]int64, error) {
	var out []int64
	if err := db.SelectContext(ctx, &out, qLiveAccounts, n); err != nil {
		return nil, fmt.Errorf("live accounts: %w", err)
	}
	return out, nil
}

// LivePurchase is one transaction of the marketplace's own path: a purchase
// of connects Connects for account, its balance moved first (the row stays
// locked until the commit), then its ledger row under key.
func LivePurchase(ctx context.Context, db *sqlx.DB, account, connects int64, key string) error {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, qLiveBalance, account, connects); err != nil {
		return fmt.Errorf("live purchase balance: %w", err)
	}
	if _, err := tx.ExecContext(ctx, qLiveLedger, account, connects, key); err != nil {
		return fmt.Errorf("live purchase ledger: %w", err)
	}
	return tx.Commit()
}

// BalancesOff counts the accounts whose balance differs from their ledger
// sum.
func BalancesOff(ctx context.Context, db *sqlx.DB) (int64, error) {
	var n int64
	if err := db.GetContext(ctx, &n, qBalancesOff); err != nil {
		return 0, fmt.Errorf("balances off: %w", err)
	}
	return n, nil
}
