-- Closed periods: finance closes a period once its refunds export is final.
-- The record keeps the export's sha256, rows and Connects, and the entries
-- it held (reconciler_closed_period_entries), so that exporting the period
-- again reproduces it byte for byte or fails naming what changed underneath
-- (a deleted or changed entry). A refund entry created later with a
-- timestamp inside a closed period is not one of its entries: it appears as
-- an adjustment in the export of the open period in which a run first
-- matched it. Both tables are append only.

-- +goose Up
-- The highest ledger id the run's matching statement saw: the coverage
-- metric reads entries above the last full sweep's, so that a refund
-- committed late with an old timestamp is counted until a sweep matches it.
ALTER TABLE reconciler_runs ADD COLUMN ledger_high_water bigint;

CREATE TABLE reconciler_closed_periods (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    period_from timestamptz NOT NULL,
    period_to   timestamptz NOT NULL,
    closed_at   timestamptz NOT NULL DEFAULT now(),
    closed_by   text        NOT NULL CHECK (btrim(closed_by) <> ''),
    rows        bigint      NOT NULL,
    connects    bigint      NOT NULL,
    sha256      text        NOT NULL,  -- of the refunds export in CSV, as `export --kind refunds --format csv` writes it
    price_per_connect text  NOT NULL,  -- the price its value_usd column was written at
    CHECK (period_to > period_from),
    -- closed periods never overlap
    CONSTRAINT reconciler_closed_periods_no_overlap EXCLUDE USING gist (tstzrange(period_from, period_to) WITH &&)
);

CREATE TABLE reconciler_closed_period_entries (
    period_id       bigint NOT NULL REFERENCES reconciler_closed_periods (id),
    ledger_entry_id bigint NOT NULL,
    PRIMARY KEY (period_id, ledger_entry_id)
);
-- an entry belongs to one closed period at most
CREATE UNIQUE INDEX reconciler_closed_period_entries_entry_idx ON reconciler_closed_period_entries (ledger_entry_id);

-- +goose StatementBegin
CREATE FUNCTION reconciler_closed_periods_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append only: a closed period stays closed', TG_TABLE_NAME;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER reconciler_closed_periods_append_only BEFORE UPDATE OR DELETE ON reconciler_closed_periods
    FOR EACH ROW EXECUTE FUNCTION reconciler_closed_periods_append_only();
CREATE TRIGGER reconciler_closed_period_entries_append_only BEFORE UPDATE OR DELETE ON reconciler_closed_period_entries
    FOR EACH ROW EXECUTE FUNCTION reconciler_closed_periods_append_only();

GRANT SELECT, INSERT ON reconciler_closed_periods, reconciler_closed_period_entries TO connects_reconciler;

-- +goose Down
ALTER TABLE reconciler_runs DROP COLUMN ledger_high_water;
DROP TABLE reconciler_closed_period_entries;
DROP TABLE reconciler_closed_periods;
DROP FUNCTION reconciler_closed_periods_append_only();
