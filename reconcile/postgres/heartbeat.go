package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"go.uber.org/zap"
)

var (
	qLockHeartbeat    = query("lock_heartbeat.sql")
	qLockHeartbeatEnd = query("lock_heartbeat_end.sql")
	qLockSession      = query("lock_session.sql")
)

// The lock holder's heartbeat: how often it beats, and how long its session
// may stay idle before the server ends it (and frees the lock). A holder
// that beats is never idle that long; alerts call a holder silent for ten
// minutes dead (docs/operations.md).
const (
	HeartbeatEvery  = time.Minute
	LockSessionIdle = 5 * time.Minute
)

// heartbeat beats on the lock's session until stopped.
type heartbeat struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// startHeartbeat sets the lock session's idle timeout and beats the first
// heartbeat, then beats every s.beatEvery (HeartbeatEvery) in the
// background. A beat that fails is logged: the lock stands as long as its
// session does, and a session that is gone frees it anyway.
func (s *Store) startHeartbeat(ctx context.Context, conn *sql.Conn, key string) (*heartbeat, error) {
	every, idle := s.beatEvery, s.lockIdle
	if every <= 0 {
		every = HeartbeatEvery
	}
	if idle <= 0 {
		idle = LockSessionIdle
	}
	if _, err := conn.ExecContext(ctx, qLockSession, fmt.Sprint(idle.Milliseconds())); err != nil {
		return nil, fmt.Errorf("set the lock session's idle timeout: %w", translate(err))
	}
	if _, err := conn.ExecContext(ctx, qLockHeartbeat, key); err != nil {
		return nil, fmt.Errorf("lock heartbeat: %w", translate(err))
	}
	bctx, cancel := context.WithCancel(context.Background())
	hb := &heartbeat{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(hb.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-bctx.Done():
				return
			case <-t.C:
			}
			beatCtx, cancelBeat := context.WithTimeout(bctx, min(every, 30*time.Second))
			_, err := conn.ExecContext(beatCtx, qLockHeartbeat, key)
			cancelBeat()
			if err == nil || bctx.Err() != nil {
				continue
			}
			pingCtx, cancelPing := context.WithTimeout(bctx, 5*time.Second)
			perr := conn.PingContext(pingCtx)
			cancelPing()
			if perr != nil && bctx.Err() == nil {
				// The session is gone, and the lock with it (a frozen process
				// whose idle session the server ended): another run may hold
				// it now, so this one writes nothing more.
				lost := fmt.Errorf("lost the run lock %q: its database session ended while the run held it (%v); another run may hold it now", key, translate(err))
				s.lockLost.Store(&lost)
				s.log.Error("run lock lost; no further batch is written", zap.String("lock", key), zap.Error(translate(err)))
				return
			}
			s.log.Warn("lock heartbeat not written; runs that find the lock taken will see the holder silent",
				zap.String("lock", key), zap.Error(translate(err)))
		}
	}()
	return hb, nil
}

// stop ends the beats and waits for the one in flight, so that the lock's
// connection is free for the release.
func (h *heartbeat) stop() {
	h.cancel()
	<-h.done
}
