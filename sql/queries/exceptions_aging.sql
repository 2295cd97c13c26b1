-- name: ExceptionsAging :many
--
-- The report's open exceptions by kind and age: how many, how many open for
-- more than 7 and 30 days, how many nobody acknowledged since they last
-- opened, and the oldest. One aggregate over the partial index of open
-- exceptions. $1 is the time the ages are measured at (the report's clock).
SELECT e.kind,
       count(*) AS open,
       count(*) FILTER (WHERE e.open_since < $1::timestamptz - interval '7 days') AS older_7d,
       count(*) FILTER (WHERE e.open_since < $1::timestamptz - interval '30 days') AS older_30d,
       count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM reconciler_exception_acks a
                                          WHERE a.exception_id = e.id AND a.acked_at >= e.open_since)) AS unacknowledged,
       min(e.open_since) AS oldest
FROM reconciler_exceptions e
WHERE e.state = 'open'
GROUP BY e.kind
ORDER BY e.kind
