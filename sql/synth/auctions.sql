-- name: SynthAuctions :execrows
--
-- One boost auction per boosted planned job. The plan says when it ended (7
-- days after posting or at the hire) or that it is still running (NULL).
INSERT INTO boost_auctions (job_id, ended_at)
SELECT id, auction_ended_at
FROM synth_jobs
WHERE boosted
ORDER BY id
