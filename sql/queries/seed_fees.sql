-- name: SeedFees :exec
--
-- The proposal_fee of every proposal that was not an invitation (4% are, salt
-- 20, and cost nothing): the job's requirement, or the new one for proposals
-- submitted after a job changed it. Charged to the proposal's freelancer at
-- submission, under the key fee:<proposal>:base.
--
-- Ledger ids are explicit and laid out in blocks so that they do not depend
-- on the order rows are produced in: 4 per freelancer for purchases and
-- grants (1 .. 4F), then 4 per proposal for its fees (base, then up to three
-- boost fees), then 2 per proposal for refunds (base, boost). Seed moves the
-- identity sequence past them afterwards.
--
-- Parameters: $1 seed, $2 anchor, $3 freelancers.
INSERT INTO connects_ledger (id, freelancer_id, amount, entry_type, proposal_id, component, idempotency_key, created_at)
SELECT 4 * $3::bigint + (p.id - 1) * 4 + 1,
       p.freelancer_id,
       -CASE WHEN j.fee_changed AND p.submitted_at >= $2::timestamptz - interval '1 second' * j.change_off
             THEN j.new_fee ELSE j.fee END,
       'proposal_fee', p.id, 'base', 'fee:' || p.id || ':base', p.submitted_at
FROM proposals p
JOIN seed_jobs j ON j.id = p.job_id
WHERE (hashint8extended(p.id * 64 + 20, $1) & 1073741823) % 100 >= 4
