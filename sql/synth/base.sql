-- name: SynthBase :exec
--
-- The state a generator (Seed or Activity) starts from, in a temporary table
-- that every shared statement joins: the highest ids (new rows get explicit
-- ids after them, so the result does not depend on the order rows are
-- produced in) and the sizes a day's volume is a share of. The seed runs it
-- on emptied tables (every id 0); a day runs it on the seeded marketplace.
--
-- Parameters: $1 freelancers (the seed's account count; NULL: the accounts
-- that hold a balance).
CREATE TEMPORARY TABLE synth_base ON COMMIT DROP AS
SELECT (SELECT coalesce(max(id), 0) FROM jobs)                                  AS job0,
       (SELECT coalesce(max(id), 0) FROM proposals)                             AS proposal0,
       (SELECT coalesce(max(id), 0) FROM connects_ledger)                       AS ledger0,
       (SELECT coalesce(max(id), 0) FROM proposal_interactions)                 AS interaction0,
       (SELECT count(*) FROM proposals)                                         AS proposals,
       (SELECT count(*) FROM jobs)                                              AS jobs,
       (SELECT count(*) FROM jobs WHERE status = 'open')                        AS open_jobs,
       (SELECT count(*) FROM boost_auctions)                                    AS auctions,
       (SELECT count(*) FROM boost_auctions WHERE ended_at IS NULL)             AS running_auctions,
       coalesce($1::bigint, (SELECT max(freelancer_id) FROM connects_balances), 1) AS freelancers
