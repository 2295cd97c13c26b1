package postgres

import "time"

// SetHeartbeat shortens the lock holder's heartbeat and its session's idle
// timeout, for tests that cannot wait minutes.
func SetHeartbeat(s *Store, every, idle time.Duration) { s.beatEvery, s.lockIdle = every, idle }
