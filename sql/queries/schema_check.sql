-- name: SchemaCheck :one
--
-- Checked when a command opens the database: which of the tables it needs
-- ($1, the contract's and the job's) are missing, and whether the job's
-- migration table exists and this user may read it (the job's role may not:
-- then the tables stand in for the version). CASE keeps has_table_privilege
-- from being asked about a table that does not exist.
SELECT coalesce(array_agg(t ORDER BY ord) FILTER (WHERE to_regclass(t) IS NULL), '{}') AS missing,
       CASE WHEN to_regclass('reconciler_schema_versions') IS NULL THEN 'absent'
            WHEN has_table_privilege('reconciler_schema_versions', 'SELECT') THEN 'readable'
            ELSE 'unreadable' END AS versions
FROM unnest($1::text[]) WITH ORDINALITY AS u(t, ord)
