-- name: MatchStage :exec
--
-- A temporary table for the refund entries a run's plan found to match, with
-- the verdict the plan's policy evaluation reached on their component,
-- dropped at the end of the recording transaction. A first full sweep finds
-- the whole history (every refund entry no run matched), so they are spooled
-- and streamed in with COPY (match_copy.sql), then written by one set-based
-- statement (match_planned.sql), never row by row. No key: the plan finds
-- each entry once, and reconciler_refund_matches' own key decides.
CREATE TEMPORARY TABLE reconciler_matches_found (
    ledger_entry_id  bigint      NOT NULL,
    entry_created_at timestamptz NOT NULL,
    proposal_id      bigint      NOT NULL,
    component        text        NOT NULL,
    job_id           bigint      NOT NULL,
    freelancer_id    bigint      NOT NULL,  -- the account the entry credited
    connects         bigint      NOT NULL,  -- the entry's amount
    charged          bigint      NOT NULL,
    rule             text        NOT NULL,  -- the rule the policy names, '' when none
    class            text        NOT NULL   -- the policy's class, '' when it agrees with the refund
) ON COMMIT DROP
