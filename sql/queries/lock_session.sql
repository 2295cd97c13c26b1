-- name: LockSession :exec
--
-- The lock's session ends itself once idle for longer than $1 (milliseconds):
-- its holder beats a heartbeat on it every minute, so only a holder that
-- stopped (a frozen process, a dead pod whose connection the server still
-- keeps) goes idle that long, and its session, with the advisory lock, is
-- ended by the server instead of lasting for the operating system's TCP
-- keepalive time (about two hours). The run's other sessions are returned to
-- the pool between statements and closed by it after a minute idle.
SELECT set_config('idle_session_timeout', $1, false)
