-- name: ActivityStats :one
--
-- What the day held, counted from its temporary tables.
SELECT (SELECT count(*) FROM synth_jobs)                                   AS new_jobs,
       (SELECT coalesce(sum(n), 0) FROM synth_jobs)::bigint                AS new_proposals,
       (SELECT count(*) FROM activity_closed)                                 AS closures,
       (SELECT count(*) FROM activity_ended)                                  AS auction_ends,
       (SELECT count(*) FROM synth_candidates)                                AS touched
