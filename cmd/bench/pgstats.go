package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
)

// dbStats is what the server's own statistics (pg_stat_database) say a
// database's backends spent, cumulatively.
type dbStats struct {
	Xacts    int64   // xact_commit + xact_rollback
	ActiveMS float64 // active_time: time executing statements (PostgreSQL 14+)
	Rows     int64   // tup_returned + tup_fetched: rows read
	Blocks   int64   // blks_hit + blks_read: buffer accesses
	Sessions int64
}

func (a dbStats) sub(b dbStats) dbStats {
	return dbStats{Xacts: a.Xacts - b.Xacts, ActiveMS: a.ActiveMS - b.ActiveMS, Rows: a.Rows - b.Rows,
		Blocks: a.Blocks - b.Blocks, Sessions: a.Sessions - b.Sessions}
}

// readStats reads a database's cumulative statistics from another database's
// session (admin), once no backend is connected to it any more: backends
// flush their counters when they exit, which is a moment after their client
// closed the connection. Each read takes a fresh statistics snapshot.
func readStats(ctx context.Context, admin *sqlx.DB, db string) (dbStats, error) {
	var st dbStats
	conn, err := admin.Connx(ctx)
	if err != nil {
		return st, err
	}
	defer conn.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		if err := conn.GetContext(ctx, &n, "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", db); err != nil {
			return st, err
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("%d backends still connected to %s after 30 s", n, db)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := conn.ExecContext(ctx, "SELECT pg_stat_clear_snapshot()"); err != nil {
		return st, err
	}
	err = conn.QueryRowxContext(ctx, `SELECT xact_commit + xact_rollback, coalesce(active_time, 0),
	        tup_returned + tup_fetched, blks_hit + blks_read, coalesce(sessions, 0)
	    FROM pg_stat_database WHERE datname = $1`, db).
		Scan(&st.Xacts, &st.ActiveMS, &st.Rows, &st.Blocks, &st.Sessions)
	if err != nil {
		return st, fmt.Errorf("pg_stat_database of %s: %w", db, err)
	}
	return st, nil
}

// stmtProxy is a TCP proxy in front of a PostgreSQL server that counts the
// statements its clients send: the frontend messages Query ('Q', the simple
// protocol: one message may hold several statements, lib/pq sends one) and
// Execute ('E', the extended protocol). PostgreSQL keeps no statement count
// without pg_stat_statements, which needs shared_preload_libraries; the
// proxy needs nothing of the server. It refuses SSL and GSS encryption on
// behalf of the server (it must read the messages), so it serves URLs with
// sslmode=disable only.
type stmtProxy struct {
	ln         net.Listener
	target     string
	statements atomic.Int64
	wg         sync.WaitGroup
	mu         sync.Mutex
	conns      map[net.Conn]bool
}

// Protocol codes of the untyped startup-phase messages.
const (
	sslRequest    = 80877103
	gssEncRequest = 80877104
)

// newStmtProxy listens on a loopback port for the server of dbURL and returns
// the proxy and the URL through it; ok is false (and no proxy) when dbURL is
// not a TCP URL with sslmode=disable.
func newStmtProxy(dbURL string) (p *stmtProxy, via string, ok bool, err error) {
	u, err := url.Parse(dbURL)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Query().Get("sslmode") != "disable" {
		return nil, dbURL, false, nil
	}
	target := u.Host
	if u.Port() == "" {
		target = net.JoinHostPort(u.Hostname(), "5432")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", false, err
	}
	p = &stmtProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.serve()
	u.Host = ln.Addr().String()
	return p, u.String(), true, nil
}

// Statements is how many statements the clients sent so far.
func (p *stmtProxy) Statements() int64 {
	if p == nil {
		return 0
	}
	return p.statements.Load()
}

// Close stops listening, closes every connection and waits for them.
func (p *stmtProxy) Close() {
	if p == nil {
		return
	}
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *stmtProxy) track(c net.Conn, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on {
		p.conns[c] = true
	} else {
		delete(p.conns, c)
	}
}

func (p *stmtProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.handle(c)
		}()
	}
}

func (p *stmtProxy) handle(client net.Conn) {
	p.track(client, true)
	defer p.track(client, false)
	defer client.Close()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	p.track(server, true)
	defer p.track(server, false)
	defer server.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(client, server) //nolint:errcheck // ends with either side
		client.Close()
		close(done)
	}()
	p.forward(bufio.NewReaderSize(client, 64<<10), client, server) //nolint:errcheck // ends with either side
	server.Close()
	<-done
}

// forward copies the client's messages to the server, counting statements.
func (p *stmtProxy) forward(in *bufio.Reader, client, server net.Conn) error {
	// The startup phase: untyped messages (length, code, payload).
	for {
		var head [8]byte
		if _, err := io.ReadFull(in, head[:]); err != nil {
			return err
		}
		n := int(binary.BigEndian.Uint32(head[:4]))
		code := binary.BigEndian.Uint32(head[4:])
		if n < 8 || n > 1<<20 {
			return errors.New("bad startup message")
		}
		if code == sslRequest || code == gssEncRequest {
			if _, err := client.Write([]byte{'N'}); err != nil {
				return err
			}
			continue
		}
		if _, err := server.Write(head[:]); err != nil {
			return err
		}
		if _, err := io.CopyN(server, in, int64(n-8)); err != nil {
			return err
		}
		break
	}
	// Typed messages: type, length (itself included), payload. Written
	// through a buffer, flushed whenever the client has sent nothing more
	// yet: what the client wrote together goes out together.
	w := bufio.NewWriterSize(server, 64<<10)
	var head [5]byte
	for {
		if _, err := io.ReadFull(in, head[:]); err != nil {
			return err
		}
		n := int64(binary.BigEndian.Uint32(head[1:]))
		if n < 4 {
			return errors.New("bad message length")
		}
		if t := head[0]; t == 'Q' || t == 'E' {
			p.statements.Add(1)
		}
		if _, err := w.Write(head[:]); err != nil {
			return err
		}
		if _, err := io.CopyN(w, in, n-4); err != nil {
			return err
		}
		if in.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return err
			}
		}
	}
}
