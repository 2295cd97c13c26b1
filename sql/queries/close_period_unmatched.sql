-- name: ClosePeriodUnmatched :many
--
-- Refund entries created before $1 (a period's end) that no run matched yet:
-- a period cannot be closed while any exists, since its rows (or an
-- adjustment it would carry) have no rule yet. The first few, oldest first,
-- and how many in all.
SELECT l.id, l.created_at, count(*) OVER () AS total
FROM connects_ledger l
WHERE l.entry_type = 'refund' AND l.created_at < $1
  AND NOT EXISTS (SELECT 1 FROM reconciler_refund_matches m WHERE m.ledger_entry_id = l.id)
ORDER BY l.created_at, l.id
LIMIT 5
