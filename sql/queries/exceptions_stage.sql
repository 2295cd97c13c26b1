-- name: ExceptionsStage :exec
--
-- A temporary table for one run's discrepancies, dropped at the end of the
-- recording transaction. The plan's discrepancies are spooled (there may be
-- many), so they are streamed into it with COPY (exceptions_copy.sql) and merged
-- into reconciler_exceptions by two set-based statements, never row by row.
-- The primary key is the exception's identity; it lets the close statement
-- probe it by index.
CREATE TEMPORARY TABLE reconciler_exceptions_seen (
    proposal_id   bigint NOT NULL,
    component     text   NOT NULL,
    kind          text   NOT NULL,
    freelancer_id bigint NOT NULL,
    job_id        bigint NOT NULL,
    rule          text   NOT NULL,
    charged       bigint NOT NULL,
    refunded      bigint NOT NULL,
    refunded_to   bigint NOT NULL,
    PRIMARY KEY (proposal_id, component, kind)
) ON COMMIT DROP
