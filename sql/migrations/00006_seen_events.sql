-- Events (job closures, auction ends) that a successful run of a shard has
-- already planned, kept for as long as they fall inside the lookback window.
-- An incremental run re-reads the lookback window to catch rows committed
-- later than their timestamp says, but plans only the events it does not find
-- here: a tick where nothing new arrived plans nothing.

-- +goose Up
CREATE TABLE reconciler_seen_events (
    shard    text        NOT NULL,  -- 'I/N', or '' when unsharded
    source   text        NOT NULL,  -- 'job_closures' or 'auction_ends'
    job_id   bigint      NOT NULL,
    event_at timestamptz NOT NULL,  -- jobs.closed_at or boost_auctions.ended_at as planned
    run_id   text        NOT NULL REFERENCES reconciler_runs (id),
    PRIMARY KEY (shard, source, job_id, event_at)
);
CREATE INDEX reconciler_seen_events_prune_idx ON reconciler_seen_events (shard, event_at);
GRANT SELECT, INSERT, UPDATE, DELETE ON reconciler_seen_events TO connects_reconciler;

-- +goose Down
DROP TABLE reconciler_seen_events;
