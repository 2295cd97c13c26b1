-- Refund matches: every refund entry of the Connects ledger, whoever wrote it,
-- matched once to the verdict that entitles it, by the run that first saw it
-- settled (the job's own refunds: by the run that wrote them, in the same
-- transaction). A match is never rewritten: finance's exports read the rule
-- from here, so a period's export does not change when the policy settings
-- do. A settings change applies only to refunds not yet matched.
--
-- What the entry said when it was matched (account, Connects, created_at) is
-- kept with the verdict, so that a row changed underneath a closed period is
-- named, not silently exported.

-- +goose Up
CREATE TABLE reconciler_refund_matches (
    -- connects_ledger.id. No foreign key: the ledger belongs to another
    -- service, and a row deleted there must be found and named, not refused.
    ledger_entry_id    bigint      PRIMARY KEY,
    proposal_id        bigint,                  -- as the entry says (NULL: none)
    component          text,                    -- as the entry says
    job_id             bigint      NOT NULL,    -- the proposal's job when matched; 0 when unknown
    freelancer_id      bigint      NOT NULL,    -- the account credited
    connects           integer     NOT NULL,
    entry_created_at   timestamptz NOT NULL,    -- connects_ledger.created_at when matched
    issued_by          text        NOT NULL CHECK (issued_by IN ('reconciler', 'online')),
    -- the rule that entitles the refund; '' when none does
    rule               text        NOT NULL DEFAULT '',
    -- 'refunded' (entitled, right account, right amount) or the discrepancy
    -- kind the policy found (unexpected_refund, wrong_account, amount_mismatch,
    -- a defect kind)
    verdict            text        NOT NULL,
    -- the run that matched it: for the job's own refunds, the run that wrote them
    run_id             text        NOT NULL REFERENCES reconciler_runs (id),
    matched_at         timestamptz NOT NULL DEFAULT now(),
    -- sha256 (hex) of the policy settings the verdict was reached under: the
    -- matching run's reconciler_runs.policy as jsonb text
    policy_fingerprint text        NOT NULL
);
-- exports read a period's matches in ledger order; the coverage metric and
-- the report look matches up by entry
CREATE INDEX reconciler_refund_matches_run_idx ON reconciler_refund_matches (run_id);

-- +goose StatementBegin
CREATE FUNCTION reconciler_refund_matches_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'reconciler_refund_matches is append only: a refund''s match is never rewritten';
END
$$;
-- +goose StatementEnd
CREATE TRIGGER reconciler_refund_matches_append_only BEFORE UPDATE OR DELETE ON reconciler_refund_matches
    FOR EACH ROW EXECUTE FUNCTION reconciler_refund_matches_append_only();

GRANT SELECT, INSERT ON reconciler_refund_matches TO connects_reconciler;

-- +goose Down
DROP TABLE reconciler_refund_matches;
DROP FUNCTION reconciler_refund_matches_append_only();
