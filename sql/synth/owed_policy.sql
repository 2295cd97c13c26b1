-- name: owed_policy (a fragment, not a statement)
--
-- "owed" for the fragment reference (reference.sql): the job's own policy
-- fragment, every proposal at once, and its decisions of class 'missing_refund' (owed,
-- settled, missing, the account holds a balance). This text is inserted as it
-- is into reference.sql, then rendered by postgres.PolicyStatement, which
-- defines policy.sql and passes its parameters.
{{template "policy.sql" .}},
owed AS (
    SELECT d.proposal_id, d.component, d.freelancer_id, d.charged
    FROM decisions d
    WHERE d.class = 'missing_refund'
)
