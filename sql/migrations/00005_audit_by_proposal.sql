-- An apply batch retried after a lost commit acknowledgement looks up what its
-- own run already wrote for the batch's proposals (apply.sql, "already").

-- +goose Up
CREATE INDEX reconciler_refunds_proposal_idx ON reconciler_refunds (proposal_id, component);

-- +goose Down
DROP INDEX reconciler_refunds_proposal_idx;
