-- name: ReportRefundTotals :many
--
-- The finance report's totals of a period [$1, $2): the very rows of its
-- refunds export (the export statement's rows fragment, picked as the export
-- picks it: a closed period's entries, $3 its id; an open period after closed
-- ones, with its adjustments; else the period's entries), summed in the
-- database by what the page shows: the UTC day (days since 1970-01-01) of
-- the entry, its rule, component and issuer, whether it is matched, and the
-- Connects of one entry. Go prices each group (count × the value of one
-- entry's Connects, rounded per entry as the export's value_usd is), so the
-- totals equal the export's rows summed; the client receives the period's
-- groups (a few thousand at most), not its rows.
--
-- The database still reads every refund entry of the period and looks its
-- match up by key (the export's own plan without its ORDER BY): the cost is
-- the period's rows inside the server, not their transfer, CSV encoding and
-- hashing in Go.
SELECT (r.created_at AT TIME ZONE 'UTC')::date - date '1970-01-01' AS day,
       r.rule,
       r.component,
       r.issued_by,
       r.verdict = 'unmatched'                                      AS unmatched,
       r.connects,
       count(*)                                                     AS refunds
FROM ({{if .Closed}}{{template "export_closed_refunds_rows"}}{{else if .Adjusted}}{{template "export_refunds_adjusted_rows"}}{{else}}{{template "export_refunds_rows"}}{{end}}) r
GROUP BY 1, 2, 3, 4, 5, 6
