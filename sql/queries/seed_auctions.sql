-- name: SeedAuctions :exec
--
-- One boost auction per boosted job (a quarter of them). It ended 7 days after
-- posting or at the hire, whichever came first; one that would end after the
-- anchor is still running (ended_at NULL).
--
-- Parameters: $1 anchor.
INSERT INTO boost_auctions (job_id, ended_at)
SELECT id, CASE WHEN auction_off > 0 THEN $1::timestamptz - interval '1 second' * auction_off END
FROM seed_jobs
WHERE boosted
