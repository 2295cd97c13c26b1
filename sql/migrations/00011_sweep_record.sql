-- The record of a full sweep: what it found, per state, as of its plan, and
-- the open exceptions of its shard by age after it. Written in the same
-- transaction that closes the run record (finish_run.sql, sweep_record.sql),
-- so a sweep is on record exactly when its run is recorded as succeeded or
-- refused. The finance report and the discrepancies export read the last
-- one instead of planning the marketplace again: their cost is that of these
-- few rows, whatever the size of the marketplace. Rows are never changed.

-- +goose Up
CREATE TABLE reconciler_sweeps (
    run_id        text        PRIMARY KEY REFERENCES reconciler_runs (id),
    shard         text        NOT NULL,  -- 'I/N', or '' when unsharded
    status        text        NOT NULL CHECK (status IN ('succeeded', 'refused')),
    as_of         timestamptz NOT NULL,  -- the plan's time (database clock): the figures are as of it
    settle_cutoff timestamptz NOT NULL,  -- owed refunds with an event after it were pending
    recorded_at   timestamptz NOT NULL   -- when the run was recorded finished
);
-- the report and the export read the last sweep recorded by a time
CREATE INDEX reconciler_sweeps_recorded_at_idx ON reconciler_sweeps (recorded_at);

CREATE TABLE reconciler_sweep_states (
    run_id            text        NOT NULL REFERENCES reconciler_sweeps (run_id),
    state             text        NOT NULL,           -- a reconcile.State: missing_refund, pending_refund, or a discrepancy kind
    count             bigint      NOT NULL DEFAULT 0, -- components the sweep's plan found in this state
    connects          bigint      NOT NULL DEFAULT 0, -- owed states: the Connects owed; discrepancies: owed minus refunded
    oldest_event_at   timestamptz,                    -- owed states: the earliest entitling event
    -- discrepancy kinds: the open exceptions of the sweep's shard after it,
    -- aged at as_of; unacknowledged: no acknowledgement since it last opened
    open              bigint      NOT NULL DEFAULT 0,
    older_7d          bigint      NOT NULL DEFAULT 0,
    older_30d         bigint      NOT NULL DEFAULT 0,
    unacknowledged    bigint      NOT NULL DEFAULT 0,
    oldest_open_since timestamptz,
    PRIMARY KEY (run_id, state)
);

GRANT SELECT, INSERT, UPDATE, DELETE ON reconciler_sweeps, reconciler_sweep_states TO connects_reconciler;

-- +goose Down
DROP TABLE reconciler_sweep_states;
DROP TABLE reconciler_sweeps;
