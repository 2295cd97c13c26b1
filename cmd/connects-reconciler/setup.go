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

// parse reads flags and configuration and builds the logger.
func (c *command) parse(args []string, getenv func(string) string, stderr io.Writer) error {
	if err := c.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return usageError{err.Error()}
	}
	if c.fs.NArg() > 0 {
		return usageError{fmt.Sprintf("%s: unexpected argument %q", c.name, c.fs.Arg(0))}
	}
	cfg, err := c.flags.Load(getenv)
	if err != nil {
		return err
	}
	c.cfg = cfg
	c.log = newLogger(cfg.Log, stderr).Named(c.name)
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
	return db, nil
}

// logConfig logs every setting once, the DSN's password masked.
func (c *command) logConfig(log *zap.Logger) {
	fields := []zap.Field{}
	for _, kv := range c.cfg.Fields(postgres.Redact) {
		fields = append(fields, zap.String(kv[0], kv[1]))
	}
	log.Info("configuration", fields...)
}

// newLogger builds the one logger: console on a terminal, JSON otherwise.
func newLogger(cfg config.Log, w io.Writer) *zap.Logger {
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
		enc.EncodeLevel = zapcore.CapitalColorLevelEncoder
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
