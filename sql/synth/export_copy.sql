-- name: ExportCopy :copy
--
-- The benchmark's bound for the finance export: the data of the export's
-- rows (every refund entry of the ledger, its job, and the rule and run of
-- its audit row when the job wrote it), in the export's order (created_at,
-- id), as the database ships it with COPY (SELECT ...) TO STDOUT. The values
-- are sent raw: formatting them, and naming the rule of an online refund,
-- are the export's work, which the comparison measures. It takes no
-- parameters (COPY cannot) and covers every refund, as the benchmark's export
-- period does.
SELECT l.*, p.job_id, rr.rule, rr.run_id
FROM connects_ledger l
LEFT JOIN proposals p ON p.id = l.proposal_id
LEFT JOIN reconciler_refunds rr ON rr.ledger_entry_id = l.id
WHERE l.entry_type = 'refund'
ORDER BY l.created_at, l.id
