-- Incremental runs find what changed by event time: job closures and
-- removals by closed_at, auction ends by ended_at. Partial indexes: open jobs
-- and running auctions have no event yet.

-- +goose Up
CREATE INDEX jobs_closed_at_idx ON jobs (closed_at) WHERE closed_at IS NOT NULL;
CREATE INDEX boost_auctions_ended_at_idx ON boost_auctions (ended_at) WHERE ended_at IS NOT NULL;

-- Exports read refund entries by period.
CREATE INDEX connects_ledger_refund_created_idx ON connects_ledger (created_at, id) WHERE entry_type = 'refund';

-- +goose Down
DROP INDEX connects_ledger_refund_created_idx;
DROP INDEX boost_auctions_ended_at_idx;
DROP INDEX jobs_closed_at_idx;
