-- name: ActivityAuctionEnds :exec
--
-- Which running auctions of existing jobs end during the day, in a temporary
-- table: those of the jobs closed hired today (at the hire), and others,
-- picked by hash (salt 17), ending at a time within the day (salt 18). How
-- many others: enough for $4 percent of all auctions (a day shaped as shares
-- of everything), or, with .OfOpen (issue 20's day, shaped as shares of what
-- is open), $4 percent of the running auctions.
--
-- Parameters: $1 seed, $2 anchor, $3 span in seconds, $4 percent.
CREATE TEMPORARY TABLE activity_ended ON COMMIT DROP AS
SELECT a.job_id,
       coalesce(c.closed_at,
                $2::timestamptz - interval '1 second' * $3::float8
                    * (0.01 + 0.98 * (hashint8extended(a.job_id * 64 + 18, $1) & 1073741823)::float8 / 1073741824)) AS ended_at
FROM boost_auctions a
CROSS JOIN synth_base b
LEFT JOIN activity_closed c ON c.id = a.job_id AND c.close_reason = 'hired'
WHERE a.ended_at IS NULL AND a.job_id <= b.job0
  AND (c.id IS NOT NULL
       OR (hashint8extended(a.job_id * 64 + 17, $1) & 1073741823) % 1000000
{{- if .OfOpen}}
          < 10000 * $4::float8)
{{- else}}
          < 1000000 * least(1, b.auctions * $4::float8 / 100 / greatest(b.running_auctions, 1)))
{{- end}}
