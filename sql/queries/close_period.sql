-- name: ClosePeriod :one
--
-- Records [$1, $2) as closed by $3 with its export's rows ($4), Connects
-- ($5), sha256 ($6) and price ($7), in the transaction that read the export;
-- close_period_entries.sql then records the entries it held.
INSERT INTO reconciler_closed_periods (period_from, period_to, closed_by, rows, connects, sha256, price_per_connect)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING id, closed_at
