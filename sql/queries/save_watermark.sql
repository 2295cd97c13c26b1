-- name: SaveWatermark :exec
--
-- Runs in the same transaction as the succeeded run record (FinishRun).
INSERT INTO reconciler_watermarks (shard, source, watermark, run_id)
VALUES ($1, $2, $3, $4)
ON CONFLICT (shard, source) DO UPDATE
SET watermark = EXCLUDED.watermark, run_id = EXCLUDED.run_id, updated_at = now()
