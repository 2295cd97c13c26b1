package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/jmoiron/sqlx"
	"go.uber.org/zap"

	"github.com/connects/connects-reconciler/cmd/connects-reconciler/internal/service"
	"github.com/connects/connects-reconciler/config"
	"github.com/connects/connects-reconciler/reconcile"
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
	// live shows a progress line on a terminal; nil when the log is not one.
	live func(string)
	// noSchema skips the check that the database has the contract's tables
	// and the job's schema up to date (migrate makes them).
	noSchema bool
}

// newCommand makes a subcommand's flag set with the settings of the groups
// it reads (the database's and the log's always).
func newCommand(name, summary string, stderr io.Writer, groups ...config.Group) *command {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: connects-reconciler %s [flags]\n%s\n\nFlags (each setting also from env or the --config file):\n", name, summary)
		fs.PrintDefaults()
	}
	if len(groups) == 0 {
		groups = []config.Group{config.GroupDatabase} // only the database and the log
	}
	return &command{name: name, fs: fs, flags: config.Register(fs, groups...)}
}

// parse reads flags and configuration and builds the logger. A flag it does
// not know is one line (with the nearest flag when one is close), not the
// usage page: -h prints that. The logger is built even when the command line
// or the configuration is wrong, from what of the log settings could be
// read, so that the way out is logged in the format asked for; unknown
// RECONCILER_* variables are warned about.
func (c *command) parse(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	usage := c.fs.Usage
	c.fs.Usage = func() {}
	c.fs.SetOutput(io.Discard)
	err := c.fs.Parse(args)
	c.fs.SetOutput(stderr)
	c.fs.Usage = usage
	if errors.Is(err, flag.ErrHelp) {
		c.fs.Usage()
		return errHelp
	}
	cfg, loadErr := c.flags.Load(getenv)
	c.cfg = cfg
	c.log, c.live = service.NewLoggerLive(cfg.Log, stderr, getenv)
	c.log = c.log.Named(c.name)
	if inv := invocationOf(ctx); inv != nil {
		inv.log, inv.format = c.log, service.LogFormat(cfg.Log, stderr)
		for _, w := range config.UnknownEnv(inv.environ) {
			c.log.Warn(w)
		}
	}
	switch {
	case err != nil:
		return usageError{c.name + ": " + err.Error() + config.Suggest(c.fs, err) +
			fmt.Sprintf(` (run "connects-reconciler %s -h" for its flags)`, c.name)}
	case c.fs.NArg() > 0:
		return usageError{fmt.Sprintf("%s: unexpected argument %q", c.name, c.fs.Arg(0))}
	}
	return loadErr
}

// progress reports long work to log, or on the terminal's live line.
func (c *command) progress(log *zap.Logger) *reconcile.Progress {
	return service.NewProgress(c.cfg.Log, log.Named("progress"), c.live)
}

// timeouts are the configured session and connection bounds.
func (c *command) timeouts() postgres.Timeouts {
	return postgres.Timeouts{
		Statement: c.cfg.Database.StatementTimeout,
		Lock:      c.cfg.Database.LockTimeout,
		Connect:   c.cfg.Database.ConnectTimeout,
		Stall:     c.cfg.Database.StallTimeout,
	}
}

// open connects to the database only, and checks that it has the
// contract's tables and the job's schema (postgres.CheckSchema: exit 2
// naming `migrate`; not for migrate itself): what every command that does
// not plan or read for finance needs (migrate, seed, discrepancies). Such a
// command must work with the replica down.
func (c *command) open(ctx context.Context) (*sqlx.DB, error) {
	db, err := postgres.Open(ctx, c.cfg.Database.URL, c.timeouts())
	if err != nil {
		return nil, err
	}
	if !c.noSchema {
		if err := postgres.CheckSchema(ctx, db); err != nil {
			db.Close()
			return nil, err
		}
	}
	return db, nil
}

// openReading connects to the database, and to the read replica when one is
// configured (a server there that is not a standby is a configuration
// mistake: exit 2): for the commands that plan or read on it.
func (c *command) openReading(ctx context.Context) (*sqlx.DB, error) {
	db, err := c.open(ctx)
	if err != nil {
		return nil, err
	}
	if dsn := c.cfg.Database.ReplicaURL; dsn != "" {
		if c.replica, err = postgres.OpenReplica(ctx, dsn, c.timeouts()); err != nil {
			db.Close()
			if errors.Is(err, postgres.ErrNotStandby) {
				return nil, &config.Error{Problems: []error{err}}
			}
			return nil, err
		}
		c.log.Info("planning on a read replica; writes go to the database", zap.String("replica", config.Redact(dsn)))
	}
	return db, nil
}

// openApplying connects to the database, and to the read replica when one is
// configured and answers: for applying a reviewed plan, which plans nothing
// and uses the replica only to throttle its writes by the replica's lag. A
// replica that does not answer is logged and left out; one that is not a
// standby is still a configuration mistake (exit 2).
func (c *command) openApplying(ctx context.Context) (*sqlx.DB, error) {
	db, err := c.openReading(ctx)
	var cerr *config.Error
	if err == nil || errors.As(err, &cerr) || c.cfg.Database.ReplicaURL == "" {
		return db, err
	}
	db, primaryErr := c.open(ctx)
	if primaryErr != nil {
		return nil, primaryErr
	}
	c.log.Warn("the read replica does not answer: applying without its lag throttle", zap.Error(err))
	return db, nil
}

// closeReplica closes the read replica's pool, if open.
func (c *command) closeReplica() {
	if c.replica != nil {
		c.replica.Close()
	}
}

// openStore opens the database (and the replica) and returns the store over
// them, reading on the replica when one is configured; close releases both.
func (c *command) openStore(ctx context.Context) (store *postgres.Store, close func(), err error) {
	db, err := c.openReading(ctx)
	if err != nil {
		return nil, nil, err
	}
	return c.newStore(db, c.log), func() { db.Close(); c.closeReplica() }, nil
}

// newStore is the store over db, reading on the replica when one is open.
func (c *command) newStore(db *sqlx.DB, log *zap.Logger) *postgres.Store {
	s := postgres.NewStore(db, log)
	if c.replica != nil {
		s = s.WithReplica(c.replica, c.cfg.Database.ReplicaURL)
	}
	return s
}

// openPrimaryStore opens the database only and returns the store over it,
// for commands that read and write only what the primary knows.
func (c *command) openPrimaryStore(ctx context.Context) (store *postgres.Store, close func(), err error) {
	db, err := c.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	return postgres.NewStore(db, c.log), func() { db.Close() }, nil
}
