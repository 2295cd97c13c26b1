-- name: RewindWatermarks :execrows
--
-- Moves every watermark back by $1 seconds: the benchmark's way to say "the
-- last successful run was a day ago" when it was minutes ago, so that a day of
-- activity generated just now lies inside the next incremental run's window.
-- For benchmarks and tests only; production never rewrites watermarks.
UPDATE reconciler_watermarks
SET watermark = watermark - interval '1 second' * $1::float8
