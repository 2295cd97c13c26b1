-- name: ExportCopy :copy
--
-- The benchmark's bound for the finance export: the data of the export's
-- rows (every refund entry of the ledger with its match: job, issuer, rule,
-- run and verdict), in the export's order (created_at, id), as the database
-- ships it with COPY (SELECT ...) TO STDOUT. The values are sent raw:
-- formatting them is the export's work, which the comparison measures. It
-- takes no parameters (COPY cannot) and covers every refund, as the
-- benchmark's export period does.
SELECT l.*, m.job_id, m.issued_by, m.rule, m.run_id, m.verdict
FROM connects_ledger l
LEFT JOIN reconciler_refund_matches m ON m.ledger_entry_id = l.id
WHERE l.entry_type = 'refund'
ORDER BY l.created_at, l.id
