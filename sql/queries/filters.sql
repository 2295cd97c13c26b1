{{- /* name: filters (fragments, not statements)

The predicates the policy fragment filters every table with, rendered by its
template calls: .In with a proposal-id column (one fragment per filter kind,
in_<kind>, the column as the data) and .Shard with an account column (shard:
Col, Count, Index; the shard's numbers are validated integers, rendered into
the text). postgres.filter picks the fragment; the text is here.

in_range: a full sweep's slice, $2 <= col < $3: an index range scan of each
table keyed by proposal.

in_ids: apply and incremental runs, col = ANY($2). The array through a scalar
subquery (an InitPlan): the planner does not see its thousands of elements,
so it neither estimates them one by one (tens of ms of planning a statement)
nor, on the estimate they give, reads a whole table instead of probing its
index (a seq scan of proposal_interactions for 10,000 ids).

in_unmatched: the proposals of match_refunds.sql's todo, gathered once into
an array (an InitPlan), for the same reason as in_ids: planned as a semi-join
on todo's estimate (the whole window's refunds, before the anti-join on
matches), an incremental run's few thousand entries got a merge plan over the
whole history that ran for minutes at 1M proposals.

in_all: every proposal, the single-statement reference.

shard: the accounts of one shard of Count (a freelancer's balance is only
ever touched by one shard). */ -}}
{{define "in_range"}}{{.}} >= $2 AND {{.}} < $3{{end}}
{{define "in_ids"}}{{.}} = ANY ((SELECT $2::bigint[])::bigint[]){{end}}
{{define "in_unmatched"}}{{.}} = ANY ((SELECT array_agg(t.proposal_id) FROM todo t)::bigint[]){{end}}
{{define "in_all"}}TRUE{{end}}
{{define "shard"}}(hashint8({{.Col}}) & 2147483647) % {{.Count}} = {{.Index}}{{end}}
