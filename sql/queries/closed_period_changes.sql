-- name: ClosedPeriodChanges :many
--
-- What changed in the ledger under closed period $1 since it was closed:
-- entries it held that are gone (deleted, or no longer refunds), entries that
-- say something else than when they were matched (created_at, amount,
-- account), and refund entries created later with a timestamp inside it (not
-- among its entries: adjustments of the open period that matched them).
-- The first 20, with how many of each in all.
WITH c AS (SELECT * FROM reconciler_closed_periods WHERE id = $1),
changes AS (
    SELECT 'deleted' AS change, e.ledger_entry_id AS entry_id,
           format('was %s Connects to account %s, created %s', m.connects, m.freelancer_id, m.entry_created_at) AS detail
    FROM reconciler_closed_period_entries e
    LEFT JOIN connects_ledger l ON l.id = e.ledger_entry_id AND l.entry_type = 'refund'
    LEFT JOIN reconciler_refund_matches m ON m.ledger_entry_id = e.ledger_entry_id
    WHERE e.period_id = $1 AND l.id IS NULL
    UNION ALL
    SELECT 'changed', l.id,
           concat_ws('; ',
               CASE WHEN l.created_at IS DISTINCT FROM m.entry_created_at THEN format('created_at %s, was %s', l.created_at, m.entry_created_at) END,
               CASE WHEN l.amount IS DISTINCT FROM m.connects THEN format('amount %s, was %s', l.amount, m.connects) END,
               CASE WHEN l.freelancer_id IS DISTINCT FROM m.freelancer_id THEN format('account %s, was %s', l.freelancer_id, m.freelancer_id) END)
    FROM reconciler_closed_period_entries e
    JOIN connects_ledger l ON l.id = e.ledger_entry_id AND l.entry_type = 'refund'
    JOIN reconciler_refund_matches m ON m.ledger_entry_id = e.ledger_entry_id
    WHERE e.period_id = $1
      AND (l.created_at, l.amount, l.freelancer_id) IS DISTINCT FROM (m.entry_created_at, m.connects, m.freelancer_id)
    UNION ALL
    SELECT 'late', l.id, format('%s Connects to account %s, created_at %s, key %s', l.amount, l.freelancer_id, l.created_at, l.idempotency_key)
    FROM c
    JOIN connects_ledger l ON l.entry_type = 'refund' AND l.created_at >= c.period_from AND l.created_at < c.period_to
    WHERE NOT EXISTS (SELECT 1 FROM reconciler_closed_period_entries e WHERE e.ledger_entry_id = l.id)
)
SELECT change, entry_id, detail, count(*) OVER (PARTITION BY change) AS total
FROM changes
ORDER BY change, entry_id
LIMIT 20
