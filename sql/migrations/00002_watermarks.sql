-- Where incremental runs start: per shard and event source, the settle cutoff
-- of the last successful run. Moved only in the transaction that records a
-- run as succeeded, so a failed or interrupted run never moves it.

-- +goose Up
CREATE TABLE reconciler_watermarks (
    shard      text        NOT NULL,  -- 'I/N', or '' when unsharded
    source     text        NOT NULL,  -- 'job_closures' or 'auction_ends'
    watermark  timestamptz NOT NULL,  -- events before this were reconciled
    run_id     text        NOT NULL REFERENCES reconciler_runs (id),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shard, source)
);

-- +goose Down
DROP TABLE reconciler_watermarks;
