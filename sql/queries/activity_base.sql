-- name: ActivityBase :exec
--
-- The state "one day of new activity" (activity.go) starts from, in a
-- temporary table that every later activity statement joins: the highest ids
-- (new rows get explicit ids after them, so the result does not depend on the
-- order rows are produced in) and the sizes the day's volume is a share of.
CREATE TEMPORARY TABLE activity_base ON COMMIT DROP AS
SELECT (SELECT coalesce(max(id), 0) FROM jobs)                                  AS job0,
       (SELECT coalesce(max(id), 0) FROM proposals)                             AS proposal0,
       (SELECT coalesce(max(id), 0) FROM connects_ledger)                       AS ledger0,
       (SELECT coalesce(max(id), 0) FROM proposal_interactions)                 AS interaction0,
       (SELECT count(*) FROM proposals)                                         AS proposals,
       (SELECT count(*) FROM jobs)                                              AS jobs,
       (SELECT count(*) FROM jobs WHERE status = 'open')                        AS open_jobs,
       (SELECT count(*) FROM boost_auctions)                                    AS auctions,
       (SELECT count(*) FROM boost_auctions WHERE ended_at IS NULL)             AS running_auctions,
       (SELECT coalesce(max(freelancer_id), 1) FROM connects_balances)          AS freelancers
