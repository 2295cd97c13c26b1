// Package postgres is the PostgreSQL adapter of connects-reconciler: it opens
// the database, runs the migrations, and implements reconcile.Store with the
// statements in sql/. Driver errors are translated here, once.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/connects/connects-reconciler/config"
	"github.com/connects/connects-reconciler/internal/sqlfile"
	"github.com/connects/connects-reconciler/reconcile"
	queries "github.com/connects/connects-reconciler/sql"
)

// Timeouts bound the work the database does for one statement.
type Timeouts struct {
	// Statement is PostgreSQL's statement_timeout for the job's sessions
	// (0: none).
	Statement time.Duration
	// Lock is PostgreSQL's lock_timeout (0: none).
	Lock time.Duration
	// Connect is the connection timeout put in the DSN when it has none.
	Connect time.Duration
	// Stall bounds how long a connection may pass no data while the job
	// waits on it: every read and write on the socket gets a deadline this
	// far ahead, and the socket has TCP keepalives and TCP_USER_TIMEOUT, so
	// a connection that stays open but goes silent fails (as a transient
	// error) within it instead of hanging past statement_timeout (0: none).
	Stall time.Duration
}

// Open connects to PostgreSQL and checks the connection. The DSN gets a
// connect_timeout when it has none, the session timeouts as options, and
// sslmode prefer when neither it nor PGSSLMODE says (connectConfig). A
// failure no retry can fix is a reconcile.SetupError naming the fix.
func Open(ctx context.Context, dsn string, t Timeouts) (*sqlx.DB, error) {
	full, err := withSessionSettings(dsn, t)
	if err != nil {
		return nil, err
	}
	cfg, err := connectConfig(full)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", config.Redact(dsn), err)
	}
	connector, err := pq.NewConnectorConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", config.Redact(dsn), err)
	}
	connector.Dialer(stallDialer{stall: t.Stall})
	db := sqlx.NewDb(sql.OpenDB(connector), "postgres")
	// the run lock's connection, up to 8 planning workers, one more
	db.SetMaxOpenConns(10)
	db.SetMaxIdleConns(10)
	db.SetConnMaxIdleTime(time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		if setup := setupError(err); setup != nil {
			return nil, fmt.Errorf("connect to database %s: %w", config.Redact(dsn), setup)
		}
		return nil, fmt.Errorf("connect to database %s: %w", config.Redact(dsn), translate(err))
	}
	return db, nil
}

// serverKeepalives are the session settings of the server's TCP keepalives
// and user timeout (ignored by the server on a Unix socket).
const serverKeepalives = "-c tcp_keepalives_idle=60 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=6 -c tcp_user_timeout=120000"

// withSessionSettings adds connect_timeout and the session timeouts to a DSN in
// URL or key=value form.
func withSessionSettings(dsn string, t Timeouts) (string, error) {
	if t.Connect <= 0 {
		t.Connect = 10 * time.Second
	}
	// jit=off: the policy statements' cost estimates are far above
	// jit_above_cost, and compiling them took ten times longer than running
	// them (4.8s against 0.5s for a 12000-proposal plan).
	//
	// tcp_*: the server's side of the connection, so that a client that died
	// without closing it (a lost node, a pod behind a dropped route) loses
	// its session, and the run lock it may hold, in about two minutes
	// rather than after the operating system's keepalive time (two hours):
	// keepalives after 60 s idle, every 10 s, 6 unanswered end it, and data
	// the client does not acknowledge for 120 s ends it too.
	opts := fmt.Sprintf("-c statement_timeout=%d -c lock_timeout=%d -c jit=off %s",
		t.Statement.Milliseconds(), t.Lock.Milliseconds(), serverKeepalives)
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("database url: not a valid URL")
		}
		q := u.Query()
		if q.Get("connect_timeout") == "" {
			q.Set("connect_timeout", fmt.Sprint(int(t.Connect.Seconds())))
		}
		if q.Get("options") == "" {
			q.Set("options", opts)
		}
		if q.Get("application_name") == "" {
			q.Set("application_name", "connects-reconciler")
		}
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	extra := ""
	if !strings.Contains(dsn, "connect_timeout=") {
		extra += fmt.Sprintf(" connect_timeout=%d", int(t.Connect.Seconds()))
	}
	if !strings.Contains(dsn, "options=") {
		extra += fmt.Sprintf(" options='%s'", opts)
	}
	if !strings.Contains(dsn, "application_name=") {
		extra += " application_name=connects-reconciler"
	}
	return dsn + extra, nil
}

// files holds every query file, parsed once. Files that include the policy
// fragment are rendered per filter shape.
var files = sqlfile.Parse(queries.Queries, "queries")

// filter picks the predicates that the policy fragment applies (the
// fragments of sql/queries/filters.sql): the proposal ids every table is read
// by, and the shard of accounts kept.
type filter struct {
	kind  string
	shard reconcile.Shard
	// matches renders plan.sql with the refund entries to match.
	matches bool
	// explain renders the columns only explain reads (policy.sql's
	// {{if .Explain}} parts): the other statements would only plan them.
	explain bool
}

// Matches is called by plan.sql: whether to return the refund entries to
// match.
func (f filter) Matches() bool { return f.matches }

// Ranged is called by plan.sql: whether the slice is an id range (a full
// sweep's), not an id array.
func (f filter) Ranged() bool { return f.kind == byRange.kind }

// Explain is called by the templates: render explain's columns.
func (f filter) Explain() bool { return f.explain }

var (
	byRange = filter{kind: "range"} // $2 <= col < $3
	byIDs   = filter{kind: "ids"}   // col = ANY($2), the array hidden from the planner
	byAll   = filter{kind: "all"}   // every proposal: the single-statement reference
)

// In is called by the templates with a proposal-id column: filters.sql's
// in_<kind> (in_all for no kind).
func (f filter) In(col string) string {
	kind := f.kind
	if kind == "" {
		kind = "all"
	}
	return files.Render("in_"+kind, col)
}

// Shard is called by the templates with an account column: TRUE unsharded,
// else filters.sql's shard.
func (f filter) Shard(col string) string {
	if !f.shard.Sharded() {
		return "TRUE"
	}
	return files.Render("shard", struct {
		Col          string
		Count, Index int
	}{col, f.shard.Count, f.shard.Index})
}

// render executes a query file with a filter and returns the statement.
func render(name string, f filter) string { return files.Render(name, f) }

// rendered caches statements rendered per filter.
var rendered sync.Map // map[renderKey]string

type renderKey struct {
	name string
	f    filter
}

// statement renders a query file once per filter and remembers it.
func statement(name string, f filter) string {
	if q, ok := rendered.Load(renderKey{name, f}); ok {
		return q.(string)
	}
	q := render(name, f)
	rendered.Store(renderKey{name, f}, q)
	return q
}

// query returns a query file that takes no filter.
func query(name string) string { return files.Text(name) }

// Statements that take no filter, read once.
var (
	qClock            = query("clock.sql")
	qBounds           = query("bounds.sql")
	qNextBoundary     = query("next_boundary.sql")
	qChanged          = query("changed_proposals.sql")
	qWatermarks       = query("watermarks.sql")
	qSaveWatermark    = query("save_watermark.sql")
	qTryLock          = query("try_lock.sql")
	qUnlock           = query("unlock.sql")
	qStartRun         = query("start_run.sql")
	qRecordPlan       = query("record_plan.sql")
	qAbandon          = query("abandon_runs.sql")
	qFinishRun        = query("finish_run.sql")
	qApplyAudit       = query("apply_audit.sql")
	qApplyBalances    = files.Render("apply_balances.sql", struct{ Wait bool }{false})
	qApplyLock        = query("apply_lock.sql")
	qApplyLockDefault = query("apply_lock_default.sql")

	qApplyBalancesWait = files.Render("apply_balances.sql", struct{ Wait bool }{true})
	qChangedEvents     = query("changed_events.sql")
	qSaveSeen          = query("save_seen_events.sql")
	qSeenEvents        = query("seen_events.sql")
	qPrimaryPos        = query("primary_position.sql")
	qReplicaPos        = query("replica_position.sql")
	qStandbyCheck      = query("standby_check.sql")
)

// policyArgs are the policy fragment's parameters: $1, one jsonb object of
// the policy's JSON fields (tos_removed, eligible_interactions, ...) and the
// settle cutoff, which policy.sql unpacks by name.
func policyArgs(p reconcile.Policy, cutoff time.Time) []any {
	b, err := json.Marshal(p)
	if err != nil {
		panic(fmt.Sprintf("encode policy: %v", err)) // a Policy always encodes
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		panic(fmt.Sprintf("decode policy: %v", err))
	}
	m["cutoff"] = cutoff.UTC().Format(time.RFC3339Nano)
	if b, err = json.Marshal(m); err != nil {
		panic(fmt.Sprintf("encode policy: %v", err))
	}
	return []any{string(b)}
}

// translate maps driver errors to domain errors: connection loss,
// serialization failures, deadlocks and admin shutdowns are transient.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		switch pqErr.Code {
		case "40001", "40P01", "57P01", "57P02", "57P03", "08000", "08003", "08006", "08001", "08004":
			return fmt.Errorf("%w: %w", reconcile.ErrTransient, err)
		}
		return err
	}
	var netErr net.Error
	if errors.Is(err, sql.ErrConnDone) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &netErr) {
		return fmt.Errorf("%w: %w", reconcile.ErrTransient, err)
	}
	return err
}
