-- name: SeedVerify :one
--
-- The seed's referential integrity, checked once for the whole load. When the
-- role may (superuser, or granted SET on session_replication_role), Seed loads
-- with session_replication_role = replica, which skips the foreign-key
-- triggers: they check row by row, which is most of a large load's time. This
-- statement does the same checks set-based (anti-joins, as ALTER TABLE ADD
-- FOREIGN KEY validates), and Seed rolls everything back if one fails. It
-- returns the first violated reference, or '' when there is none.
SELECT coalesce((
    SELECT v.name
    FROM (VALUES
        (1, 'proposals.job_id -> jobs',
            EXISTS (SELECT 1 FROM proposals p WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = p.job_id))),
        (2, 'boost_auctions.job_id -> jobs',
            EXISTS (SELECT 1 FROM boost_auctions a WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = a.job_id))),
        (3, 'boost_bids.proposal_id -> proposals',
            EXISTS (SELECT 1 FROM boost_bids b WHERE NOT EXISTS (SELECT 1 FROM proposals p WHERE p.id = b.proposal_id))),
        (4, 'proposal_interactions.proposal_id -> proposals',
            EXISTS (SELECT 1 FROM proposal_interactions i WHERE NOT EXISTS (SELECT 1 FROM proposals p WHERE p.id = i.proposal_id)))
    ) AS v (ord, name, violated)
    WHERE v.violated
    ORDER BY v.ord
    LIMIT 1
), '') AS violated
