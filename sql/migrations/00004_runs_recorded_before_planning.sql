-- Runs are recorded once they hold the lock, before they plan: scope, as_of
-- and settle_cutoff are known only once the plan is made, and stay NULL for a
-- run that failed or was interrupted while planning.

-- +goose Up
ALTER TABLE reconciler_runs
    ALTER COLUMN scope DROP NOT NULL,
    ALTER COLUMN as_of DROP NOT NULL,
    ALTER COLUMN settle_cutoff DROP NOT NULL;

-- +goose Down
UPDATE reconciler_runs SET scope = coalesce(scope, ''), as_of = coalesce(as_of, started_at),
    settle_cutoff = coalesce(settle_cutoff, started_at);
ALTER TABLE reconciler_runs
    ALTER COLUMN scope SET NOT NULL,
    ALTER COLUMN as_of SET NOT NULL,
    ALTER COLUMN settle_cutoff SET NOT NULL;
