-- name: ClosePeriodEntries :execrows
--
-- The entries a period held when it was closed ($3, the period's id): the
-- rows of its refunds export (export_refunds_adjusted.sql over [$1, $2), its
-- adjustments included), read in the same REPEATABLE READ transaction as the
-- export whose sha256 was recorded, so the two cannot differ.
INSERT INTO reconciler_closed_period_entries (period_id, ledger_entry_id)
SELECT $3::bigint, x.entry_id
FROM ({{template "export_refunds_adjusted.sql"}}) x
