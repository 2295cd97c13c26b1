-- name: VersionTables :one
--
-- Whether the two goose version tables exist, for `migrate status`.
SELECT to_regclass('reconciler_schema_versions') IS NOT NULL AS schema,
       to_regclass('reconciler_marketplace_versions') IS NOT NULL AS marketplace
