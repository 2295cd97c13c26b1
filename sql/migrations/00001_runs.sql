-- The job's own tables: one row per applying run, and one audit row per refund
-- the job wrote, saying which run and which rule issued it.

-- +goose Up
CREATE TABLE reconciler_runs (
    id                text        PRIMARY KEY,
    mode              text        NOT NULL,            -- 'run' or 'plan' (a reviewed plan file)
    scope             text        NOT NULL,            -- 'full' or 'incremental'
    shard             text        NOT NULL DEFAULT '', -- 'I/N', or '' when unsharded
    status            text        NOT NULL,            -- running, succeeded, failed, refused, interrupted, abandoned
    started_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz,
    as_of             timestamptz NOT NULL,            -- database time the plan was made at
    settle_cutoff     timestamptz NOT NULL,            -- events before this were reconciled
    policy            jsonb       NOT NULL,
    refunds_planned   integer     NOT NULL DEFAULT 0,
    connects_planned  bigint      NOT NULL DEFAULT 0,
    refunds_issued    integer     NOT NULL DEFAULT 0,  -- moved in the same transaction as each batch
    connects_issued   bigint      NOT NULL DEFAULT 0,
    refunds_skipped   integer     NOT NULL DEFAULT 0,  -- planned, but no longer owed when written
    issued_by_rule    jsonb       NOT NULL DEFAULT '{}',
    discrepancies     integer     NOT NULL DEFAULT 0,
    discrepancies_by_kind jsonb   NOT NULL DEFAULT '{}',
    error             text,
    CONSTRAINT reconciler_runs_status_check CHECK (status IN
        ('running', 'succeeded', 'failed', 'refused', 'interrupted', 'abandoned'))
);

CREATE INDEX reconciler_runs_started_at_idx ON reconciler_runs (started_at);

CREATE TABLE reconciler_refunds (
    ledger_entry_id bigint      PRIMARY KEY REFERENCES connects_ledger (id),
    run_id          text        NOT NULL REFERENCES reconciler_runs (id),
    proposal_id     bigint      NOT NULL,
    job_id          bigint      NOT NULL,
    freelancer_id   bigint      NOT NULL,
    component       text        NOT NULL,
    rule            text        NOT NULL,
    connects        integer     NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX reconciler_refunds_run_idx ON reconciler_refunds (run_id);

-- +goose Down
DROP TABLE reconciler_refunds;
DROP TABLE reconciler_runs;
