-- Where a run planned (the primary, or a read replica) and how far the
-- replica's replay was behind the primary's clock when it did. NULL for runs
-- that failed before they planned.

-- +goose Up
ALTER TABLE reconciler_runs
    ADD COLUMN planned_on  text CHECK (planned_on IN ('primary', 'replica')),
    ADD COLUMN replica_lag interval;

-- +goose Down
ALTER TABLE reconciler_runs
    DROP COLUMN planned_on,
    DROP COLUMN replica_lag;
