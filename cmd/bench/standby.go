package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/connects/connects-reconciler/internal/pgbin"
	"github.com/jmoiron/sqlx"

	"github.com/connects/connects-reconciler/reconcile/postgres"
)

// standby is a hot standby of the benchmark's server, started on this machine
// with pg_basebackup -R and pg_ctl in a temporary directory of its own, as the
// OS user postgres when the benchmark runs as root (PostgreSQL refuses root).
// pg_basebackup copies the whole cluster: start it when only the databases
// the case needs exist, and stop it right after.
type standby struct {
	bin, dir, data, owner string
	port                  int
	adminURL              string // the primary's
}

// errNoReplication says the server refuses replication connections: the
// replica case is then not measured (the shared server's pg_hba.conf is not
// the benchmark's to change).
var errNoReplication = errors.New("the server refuses replication connections")

// settings of the primary's configuration file a standby on this machine
// must not take: paths, addresses and identity of the primary, archiving.
var primaryOnly = map[string]bool{
	"data_directory": true, "config_file": true, "hba_file": true, "ident_file": true, "external_pid_file": true,
	"port": true, "listen_addresses": true, "unix_socket_directories": true, "unix_socket_group": true,
	"unix_socket_permissions": true, "cluster_name": true, "logging_collector": true, "log_directory": true,
	"log_filename": true, "archive_mode": true, "archive_command": true, "archive_library": true,
	"restore_command": true, "primary_conninfo": true, "primary_slot_name": true, "hot_standby": true,
	"hot_standby_feedback": true,
}

// startStandby copies the cluster of adminURL with pg_basebackup -R into a
// temporary directory, configures it as a hot standby on a free loopback port
// (the primary's own settings, its pg_hba.conf) and starts it. On error
// everything it started is stopped and removed again. The caller stops it
// with stop, also on failure and interrupt.
func startStandby(ctx context.Context, admin *sqlx.DB, adminURL string) (s *standby, err error) {
	if s, err = backupStandby(ctx, adminURL); err != nil {
		return nil, err
	}
	if err := s.configure(ctx, admin); err != nil {
		s.stop()
		return nil, err
	}
	if err := s.start(ctx); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// backupStandby makes the standby's data directory with pg_basebackup -R (a
// temporary replication slot while it copies; none is left on the primary).
func backupStandby(ctx context.Context, adminURL string) (s *standby, err error) {
	s = &standby{adminURL: adminURL}
	if s.bin, err = pgbin.Dir("pg_ctl", "pg_basebackup"); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			return nil, fmt.Errorf("running as root, the standby needs the OS user postgres to own it: %w", err)
		}
		s.owner = "postgres"
	}
	if s.dir, err = os.MkdirTemp("", "crbench-standby-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.stop()
			s = nil
		}
	}()
	if err := s.chown(s.dir); err != nil {
		return s, err
	}
	s.data = filepath.Join(s.dir, "data")
	if s.port, err = freePort(); err != nil {
		return s, err
	}
	conn, env := psqlConn(adminURL)
	out, err := s.as(ctx, env, "pg_basebackup", "-D", s.data, "-R", "-X", "stream", "-c", "fast", "--no-sync", "-d", conn)
	if err != nil {
		if bytes.Contains(out, []byte("pg_hba.conf entry for replication")) {
			return s, fmt.Errorf("%w from this machine (pg_hba.conf has no replication line for it, e.g. `host replication postgres 127.0.0.1/32 trust`)",
				errNoReplication)
		}
		return s, fmt.Errorf("pg_basebackup: %w\n%s", err, out)
	}
	return s, nil
}

// start starts the configured standby and waits until it accepts connections.
func (s *standby) start(ctx context.Context) error {
	if out, err := s.as(ctx, nil, "pg_ctl", "-D", s.data, "-l", filepath.Join(s.dir, "standby.log"), "-w", "-t", "120", "start"); err != nil {
		return fmt.Errorf("start the standby: %w\n%s%s", err, out, s.log())
	}
	return nil
}

// configure writes the standby's configuration: where the primary keeps its
// configuration files outside the data directory (Debian), the primary's
// settings from its configuration file and its pg_hba.conf and
// pg_ident.conf; then this standby's port, socket directory and hot standby.
func (s *standby) configure(ctx context.Context, admin *sqlx.DB) error {
	conf := filepath.Join(s.data, "postgresql.conf")
	var b strings.Builder
	if _, err := os.Stat(conf); err != nil {
		var settings []struct {
			Name    string `db:"name"`
			Value   string `db:"value"`
			VarType string `db:"vartype"`
		}
		err := admin.SelectContext(ctx, &settings, `SELECT name, current_setting(name) AS value, vartype
		    FROM pg_settings WHERE source = 'configuration file' ORDER BY name`)
		if err != nil {
			return fmt.Errorf("the primary's settings: %w", err)
		}
		b.WriteString("# the primary's settings (crbench)\n")
		for _, st := range settings {
			if primaryOnly[st.Name] || strings.HasPrefix(st.Name, "ssl") {
				continue
			}
			v := st.Value
			if st.VarType == "string" || st.VarType == "enum" || strings.ContainsAny(v, " ,") {
				v = "'" + strings.ReplaceAll(v, "'", "''") + "'"
			}
			fmt.Fprintf(&b, "%s = %s\n", st.Name, v)
		}
	}
	for file, setting := range map[string]string{"pg_hba.conf": "hba_file", "pg_ident.conf": "ident_file"} {
		path := filepath.Join(s.data, file)
		if _, err := os.Stat(path); err == nil {
			continue
		}
		var text string
		if err := admin.GetContext(ctx, &text, "SELECT pg_read_file(current_setting($1))", setting); err != nil {
			return fmt.Errorf("the primary's %s: %w", file, err)
		}
		if err := s.write(path, text, os.O_CREATE|os.O_WRONLY|os.O_TRUNC); err != nil {
			return err
		}
	}
	fmt.Fprintf(&b, "\n# the benchmark's standby (crbench)\nport = %d\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\n"+
		"hot_standby = on\nhot_standby_feedback = on\nlogging_collector = off\n", s.port, s.dir)
	return s.write(conf, b.String(), os.O_CREATE|os.O_WRONLY|os.O_APPEND)
}

// url is the standby's URL of a database: the primary's URL (user, options)
// with the standby's address.
func (s *standby) url(db string) string {
	u, err := url.Parse(s.adminURL)
	if err != nil || u.Scheme == "" {
		return fmt.Sprintf("host=127.0.0.1 port=%d dbname=%s sslmode=disable", s.port, db)
	}
	u.Host = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	u.Path = "/" + db
	return u.String()
}

// catchUp waits until the standby has replayed everything the primary has
// written so far (what there is to replay, as runs compare it).
func (s *standby) catchUp(ctx context.Context, primary *sqlx.DB, db string) error {
	lsn, err := postgres.PrimaryPosition(ctx, primary)
	if err != nil {
		return fmt.Errorf("the primary's WAL position: %w", err)
	}
	return withDB(ctx, s.url(db), func(sb *sqlx.DB) error {
		deadline := time.Now().Add(5 * time.Minute)
		for {
			var done bool
			err := sb.GetContext(ctx, &done, "SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false)", lsn)
			if err == nil && done {
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("the standby did not replay up to %s within 5 minutes (%v)\n%s", lsn, err, s.log())
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// stop stops the standby at once (it is thrown away) and removes its
// directory; it works after the context was cancelled.
func (s *standby) stop() {
	if s == nil || s.dir == "" {
		return
	}
	if _, err := os.Stat(filepath.Join(s.data, "postmaster.pid")); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if out, err := s.as(ctx, nil, "pg_ctl", "-D", s.data, "-m", "immediate", "-w", "stop"); err != nil {
			fmt.Fprintf(os.Stderr, "bench: stop the standby in %s: %v\n%s", s.data, err, out)
		}
		cancel()
	}
	if err := os.RemoveAll(s.dir); err != nil {
		fmt.Fprintf(os.Stderr, "bench: remove %s: %v\n", s.dir, err)
	}
	s.dir = ""
}

// size is the bytes of the standby's data directory (what pg_basebackup copied).
func (s *standby) size() int64 {
	var n int64
	_ = filepath.Walk(s.data, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// as runs a server binary, as the cluster's owner when running as root.
func (s *standby) as(ctx context.Context, env []string, name string, args ...string) ([]byte, error) {
	path := filepath.Join(s.bin, name)
	var cmd *exec.Cmd
	if s.owner != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", s.owner, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = s.dir
	cmd.Env = append(cleanEnv(), env...)
	// On interrupt, SIGTERM: runuser passes it on to the server binary.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	return cmd.CombinedOutput()
}

func (s *standby) write(path, text string, flag int) error {
	f, err := os.OpenFile(path, flag, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return s.chown(path)
}

func (s *standby) chown(path string) error {
	if s.owner == "" {
		return nil
	}
	u, err := user.Lookup(s.owner)
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return os.Chown(path, uid, gid)
}

func (s *standby) log() string {
	b, err := os.ReadFile(filepath.Join(s.dir, "standby.log"))
	if err != nil {
		return ""
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return "--- standby.log ---\n" + string(b)
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
