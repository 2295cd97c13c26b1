package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/connects/connects-reconciler/config"
	"github.com/connects/connects-reconciler/reconcile/postgres"
)

// command is what every subcommand shares: its flags, the configuration and
// the logger.
type command struct {
	name  string
	fs    *flag.FlagSet
	flags *config.Flags
	cfg   config.Config
	log   *zap.Logger
	// replica is the read replica's pool, opened with the database when
	// replica_database_url is set; closeReplica closes it.
	replica *sqlx.DB
}

func newCommand(name, summary string, stderr io.Writer) *command {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: connects-reconciler %s [flags]\n%s\n\nFlags (each setting also from env or the --config file):\n", name, summary)
		fs.PrintDefaults()
	}
	return &command{name: name, fs: fs, flags: config.Register(fs)}
}

// parse reads flags and configuration and builds the logger. A flag it does
// not know is one line (with the nearest flag when one is close), not the
// usage page: -h prints that.
func (c *command) parse(args []string, getenv func(string) string, stderr io.Writer) error {
	usage := c.fs.Usage
	c.fs.Usage = func() {}
	c.fs.SetOutput(io.Discard)
	err := c.fs.Parse(args)
	c.fs.SetOutput(stderr)
	c.fs.Usage = usage
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.fs.Usage()
			return errHelp
		}
		return usageError{c.name + ": " + err.Error() + suggest(c.fs, err) +
			fmt.Sprintf(` (run "connects-reconciler %s -h" for its flags)`, c.name)}
	}
	if c.fs.NArg() > 0 {
		return usageError{fmt.Sprintf("%s: unexpected argument %q", c.name, c.fs.Arg(0))}
	}
	cfg, err := c.flags.Load(getenv)
	if err != nil {
		return err
	}
	c.cfg = cfg
	c.log = newLogger(cfg.Log, stderr, getenv).Named(c.name)
	return nil
}

// open connects to the database with the configured timeouts.
func (c *command) open(ctx context.Context) (*sqlx.DB, error) {
	db, err := postgres.Open(ctx, c.cfg.Database.URL, postgres.Timeouts{
		Statement: c.cfg.Database.StatementTimeout,
		Lock:      c.cfg.Database.LockTimeout,
		Connect:   c.cfg.Database.ConnectTimeout,
		Stall:     c.cfg.Database.StallTimeout,
	})
	if err != nil {
		return nil, err
	}
	if c.cfg.Database.ReplicaURL != "" {
		if c.replica, err = c.openReplica(ctx); err != nil {
			db.Close()
			return nil, err
		}
	}
	return db, nil
}

// openReplica connects to the read replica and checks that it is a hot
// standby: a primary there is a configuration mistake (exit 2).
func (c *command) openReplica(ctx context.Context) (*sqlx.DB, error) {
	dsn := c.cfg.Database.ReplicaURL
	db, err := postgres.Open(ctx, dsn, postgres.Timeouts{
		Statement: c.cfg.Database.StatementTimeout,
		Lock:      c.cfg.Database.LockTimeout,
		Connect:   c.cfg.Database.ConnectTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("replica_database_url: %w", err)
	}
	if err := postgres.CheckStandby(ctx, db); err != nil {
		db.Close()
		if errors.Is(err, postgres.ErrNotStandby) {
			return nil, &config.Error{Problems: []error{fmt.Errorf("replica_database_url: %s %w: point it at a standby of the database, or unset it to plan on the database itself",
				postgres.Redact(dsn), err)}}
		}
		return nil, fmt.Errorf("replica_database_url: %s: %w", postgres.Redact(dsn), err)
	}
	c.log.Info("planning on a read replica; writes go to the database", zap.String("replica", postgres.Redact(dsn)))
	return db, nil
}

// closeReplica closes the read replica's pool, if open.
func (c *command) closeReplica() {
	if c.replica != nil {
		c.replica.Close()
	}
}

// newStore is the store over db, reading on the replica when one is open.
func (c *command) newStore(db *sqlx.DB, log *zap.Logger) *postgres.Store {
	return storeOn(db, c.replica, c.cfg.Database.ReplicaURL, log)
}

// storeOn is the store over db, reading on replica when it is not nil.
func storeOn(db, replica *sqlx.DB, replicaURL string, log *zap.Logger) *postgres.Store {
	s := postgres.NewStore(db, log)
	if replica != nil {
		s = s.WithReplica(replica, replicaURL)
	}
	return s
}

// logConfig logs the configuration once, compactly: the database (password
// masked) and the settings that differ from their defaults (see -h for
// those).
func (c *command) logConfig(log *zap.Logger) {
	var changed []string
	for _, kv := range c.cfg.Changed(postgres.Redact) {
		if kv[0] != "database_url" {
			changed = append(changed, kv[0]+"="+kv[1])
		}
	}
	settings := "all defaults"
	if len(changed) > 0 {
		settings = strings.Join(changed, " ")
	}
	log.Info("configuration", zap.String("database", postgres.Redact(c.cfg.Database.URL)), zap.String("settings", settings))
}

// newLogger builds the one logger: console on a terminal, JSON otherwise.
// Levels are coloured only on a terminal, and not when NO_COLOR is set
// (https://no-color.org).
func newLogger(cfg config.Log, w io.Writer, getenv func(string) string) *zap.Logger {
	format := cfg.Format
	if format == "auto" {
		format = "json"
		if isTerminal(w) {
			format = "console"
		}
	}
	level, err := zapcore.ParseLevel(cfg.Level)
	if err != nil {
		level = zapcore.InfoLevel
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	var encoder zapcore.Encoder
	if format == "console" {
		enc.EncodeLevel = zapcore.CapitalLevelEncoder
		if isTerminal(w) && getenv("NO_COLOR") == "" {
			enc.EncodeLevel = zapcore.CapitalColorLevelEncoder
		}
		encoder = zapcore.NewConsoleEncoder(enc)
	} else {
		encoder = zapcore.NewJSONEncoder(enc)
	}
	return zap.New(zapcore.NewCore(encoder, zapcore.Lock(zapcore.AddSync(w)), level))
}

// isTerminal reports whether w is a character device.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// newRunID returns a sortable, unique run id.
func newRunID(now time.Time) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

// suggest returns ` (did you mean --NAME?)` when err is an unknown flag
// within a small edit distance of a defined one, else "".
func suggest(fs *flag.FlagSet, err error) string {
	const prefix = "flag provided but not defined: -"
	msg := err.Error()
	if !strings.HasPrefix(msg, prefix) {
		return ""
	}
	typed := strings.TrimLeft(strings.TrimPrefix(msg, prefix), "-")
	best, bestDist := "", 0
	fs.VisitAll(func(f *flag.Flag) {
		d := editDistance(typed, f.Name)
		if best == "" || d < bestDist {
			best, bestDist = f.Name, d
		}
	})
	if best == "" || bestDist > max(1, min(3, len(typed)/3)) {
		return ""
	}
	return " (did you mean --" + best + "?)"
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
