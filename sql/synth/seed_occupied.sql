-- name: SeedOccupied :one
--
-- The first contract table that already holds a row, or '' when all are
-- empty: seeding never mixes synthetic rows into existing data unless told
-- to overwrite. EXISTS reads one row per table, however large.
SELECT coalesce((
    SELECT t.name
    FROM (VALUES (1, 'jobs',                  EXISTS (SELECT 1 FROM jobs)),
                 (2, 'proposals',             EXISTS (SELECT 1 FROM proposals)),
                 (3, 'boost_auctions',        EXISTS (SELECT 1 FROM boost_auctions)),
                 (4, 'boost_bids',            EXISTS (SELECT 1 FROM boost_bids)),
                 (5, 'proposal_interactions', EXISTS (SELECT 1 FROM proposal_interactions)),
                 (6, 'connects_ledger',       EXISTS (SELECT 1 FROM connects_ledger)),
                 (7, 'connects_balances',     EXISTS (SELECT 1 FROM connects_balances))
         ) AS t (ord, name, occupied)
    WHERE t.occupied
    ORDER BY t.ord
    LIMIT 1
), '') AS occupied
