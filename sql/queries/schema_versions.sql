-- name: SchemaVersions :many
--
-- The job's migrations applied, as goose records them (version 0 is goose's
-- own first row): for the check at start and `migrate status`.
SELECT version_id, tstamp
FROM reconciler_schema_versions
WHERE is_applied AND version_id > 0
ORDER BY version_id
