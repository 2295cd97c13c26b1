-- name: Watermarks :many
SELECT source, watermark FROM reconciler_watermarks WHERE shard = $1
