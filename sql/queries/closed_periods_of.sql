-- name: ClosedPeriodsOf :many
--
-- The closed periods that overlap [$1, $2), and whether any closed period
-- ends by $2 (then an open period's export carries adjustments): the refunds
-- export reads a closed period from its recorded entries, refuses a period
-- that overlaps one without being it, and otherwise picks its statement.
SELECT c.id, c.period_from, c.period_to, c.closed_at, c.closed_by, c.rows, c.connects, c.sha256, c.price_per_connect,
       tstzrange(c.period_from, c.period_to) && tstzrange($1, $2) AS overlaps
FROM reconciler_closed_periods c
WHERE c.period_to <= $2 OR tstzrange(c.period_from, c.period_to) && tstzrange($1, $2)
ORDER BY c.period_from DESC
LIMIT 2
