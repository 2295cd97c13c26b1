-- name: ChangedProposals :many
--
-- The proposals an incremental run reconciles: those of jobs closed or
-- removed in the job-closure window, and those with a bid in an auction that
-- ended in the auction window. Each window is (watermark - lookback, cutoff):
-- the lookback catches rows committed later than their timestamp says. Both
-- reads are index range scans (jobs_closed_at_idx, boost_auctions_ended_at_idx).
--
-- Parameters: $1 closures since, $2 auction ends since, $3 cutoff.
SELECT p.id
FROM jobs j
JOIN proposals p ON p.job_id = j.id
WHERE j.closed_at > $1 AND j.closed_at < $3
UNION
SELECT b.proposal_id
FROM boost_auctions a
JOIN proposals p ON p.job_id = a.job_id
JOIN boost_bids b ON b.proposal_id = p.id
WHERE a.ended_at > $2 AND a.ended_at < $3
ORDER BY 1
