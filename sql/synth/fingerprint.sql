-- name: RefundFingerprint :one
--
-- Every refund in the ledger, whoever wrote it, as a count and an md5 of its
-- (proposal, component, amount, account) rows in order: two databases seeded
-- alike hold the same refunds exactly when their fingerprints are equal. The
-- benchmark compares the job's runs with the reference statements this way.
-- Read through the refund index (one row per proposal and component).
SELECT count(*) AS refunds,
       coalesce(sum(amount), 0) AS connects,
       md5(coalesce(string_agg(proposal_id || ':' || component || ':' || amount || ':' || freelancer_id, ','
                               ORDER BY proposal_id, component), '')) AS md5
FROM connects_ledger
WHERE entry_type = 'refund'
