-- name: MarketplaceVersions :many
--
-- The development marketplace's migrations applied (`migrate
-- --with-marketplace`), for `migrate status`; asked only when the table exists.
SELECT version_id, tstamp
FROM reconciler_marketplace_versions
WHERE is_applied AND version_id > 0
ORDER BY version_id
