-- Refund matches are written in bulk: the first full sweep over a ledger no
-- run matched writes one per refund entry of the history (169k at 1M
-- proposals, 850k at 5M), in the transaction that records its exceptions.
-- Two things cost more there than the rows themselves and bought nothing:
--   - the foreign key to reconciler_runs: a referential check per row (0.4 s
--     of 1.3 s inserting 161k matches at 1M). Every statement that writes a
--     match joins the run record it names (apply_audit.sql, match_planned.sql,
--     match_refunds.sql), so a match without its run is never written;
--     runs are never deleted.
--   - the index on run_id: no statement reads matches by run (exports,
--     coverage and closed periods read them by entry); it served only the
--     foreign key (0.1 s of the same insert).
-- An index by proposal and component takes its place: a plan reads its
-- slice's matches by it to find the refund entries no run matched
-- (plan.sql), an index range per slice instead of a probe per refund.

-- +goose Up
ALTER TABLE reconciler_refund_matches DROP CONSTRAINT reconciler_refund_matches_run_id_fkey;
DROP INDEX reconciler_refund_matches_run_idx;
CREATE INDEX reconciler_refund_matches_proposal_idx ON reconciler_refund_matches (proposal_id, component);

-- +goose Down
DROP INDEX reconciler_refund_matches_proposal_idx;
CREATE INDEX reconciler_refund_matches_run_idx ON reconciler_refund_matches (run_id);
ALTER TABLE reconciler_refund_matches
    ADD CONSTRAINT reconciler_refund_matches_run_id_fkey FOREIGN KEY (run_id) REFERENCES reconciler_runs (id);
