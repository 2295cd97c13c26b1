package postgres

import (
	"context"
	"net"
	"time"
)

// stallDialer dials PostgreSQL with TCP keepalives and TCP_USER_TIMEOUT, and
// wraps the connection so that every read and write has a deadline stall
// ahead: a connection that stays open but passes no data (a silent peer, a
// proxy that stopped forwarding, a dropped route) fails within stall instead
// of hanging a run past statement_timeout. The deadline is per operation, so
// a long statement is bounded by statement_timeout, which PostgreSQL enforces
// and which config requires to be shorter.
type stallDialer struct{ stall time.Duration }

func (d stallDialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

func (d stallDialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return d.DialContext(ctx, network, address)
}

func (d stallDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	nd := net.Dialer{}
	if d.stall > 0 {
		// Probe an idle connection after a third of the bound, then every
		// third; TCP_USER_TIMEOUT ends it once data or probes go
		// unacknowledged for the whole bound.
		probe := max(d.stall/3, time.Second)
		nd.KeepAliveConfig = net.KeepAliveConfig{Enable: true, Idle: probe, Interval: probe, Count: 3}
		nd.Control = userTimeout(d.stall)
	}
	c, err := nd.DialContext(ctx, network, address)
	if err != nil || d.stall <= 0 {
		return c, err
	}
	return &stallConn{Conn: c, stall: d.stall}, nil
}

// stallConn puts a deadline on every read and write.
type stallConn struct {
	net.Conn
	stall time.Duration
}

func (c *stallConn) Read(b []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.stall)); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *stallConn) Write(b []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.stall)); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}
