-- Exceptions with a life: every discrepancy a run finds (proposal, component,
-- kind) is kept as one row, with when and by which runs it was first and last
-- seen. A full sweep that no longer finds an open exception closes it; one
-- that finds a closed exception again reopens it (reopened_count, reopened_at).
-- Rows are never deleted: closing and reopening only change state.
--
-- Acknowledgements are a table of their own, append only: a person's note on
-- an exception is kept forever; the exception shows its latest. The job's role
-- may only SELECT and INSERT there (no UPDATE or DELETE), and a trigger refuses
-- UPDATE and DELETE from anyone else too.

-- +goose Up
CREATE TABLE reconciler_exceptions (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    proposal_id     bigint      NOT NULL,
    component       text        NOT NULL,
    kind            text        NOT NULL,
    -- what the last run that saw it found
    freelancer_id   bigint      NOT NULL,  -- the account charged (the shard's account)
    job_id          bigint      NOT NULL,  -- 0 when the proposal is unknown
    rule            text        NOT NULL DEFAULT '',
    charged         bigint      NOT NULL,
    refunded        bigint      NOT NULL,
    refunded_to     bigint      NOT NULL DEFAULT 0,  -- wrong_account: the account credited
    state           text        NOT NULL CHECK (state IN ('open', 'closed')),
    first_seen_at   timestamptz NOT NULL,  -- the plan time (database clock) of the first run that found it
    first_run_id    text        NOT NULL REFERENCES reconciler_runs (id),
    last_seen_at    timestamptz NOT NULL,  -- the plan time of the last run that found it
    last_run_id     text        NOT NULL REFERENCES reconciler_runs (id),
    open_since      timestamptz NOT NULL,  -- first_seen_at, or reopened_at after a reopening: the age counts from here
    closed_at       timestamptz,           -- the last time a full sweep no longer found it (kept when it reopens)
    closed_run_id   text        REFERENCES reconciler_runs (id),
    reopened_count  integer     NOT NULL DEFAULT 0,
    reopened_at     timestamptz,
    CONSTRAINT reconciler_exceptions_key UNIQUE (proposal_id, component, kind)
);
-- list, metrics and the report read the open ones by age
CREATE INDEX reconciler_exceptions_open_idx ON reconciler_exceptions (open_since) WHERE state = 'open';

CREATE TABLE reconciler_exception_acks (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    exception_id bigint      NOT NULL REFERENCES reconciler_exceptions (id),
    acked_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    acked_by     text        NOT NULL CHECK (btrim(acked_by) <> ''),
    note         text        NOT NULL CHECK (btrim(note) <> '')
);
CREATE INDEX reconciler_exception_acks_latest_idx ON reconciler_exception_acks (exception_id, acked_at DESC, id DESC);

-- +goose StatementBegin
CREATE FUNCTION reconciler_exception_acks_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'reconciler_exception_acks is append only: acknowledgements are never changed or deleted';
END
$$;
-- +goose StatementEnd
CREATE TRIGGER reconciler_exception_acks_append_only BEFORE UPDATE OR DELETE ON reconciler_exception_acks
    FOR EACH ROW EXECUTE FUNCTION reconciler_exception_acks_append_only();

GRANT SELECT, INSERT, UPDATE, DELETE ON reconciler_exceptions TO connects_reconciler;
GRANT SELECT, INSERT ON reconciler_exception_acks TO connects_reconciler;

-- +goose Down
DROP TABLE reconciler_exception_acks;
DROP FUNCTION reconciler_exception_acks_append_only();
DROP TABLE reconciler_exceptions;
