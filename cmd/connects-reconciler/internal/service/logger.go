package service

import (
	"io"
	"os"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/connects/connects-reconciler/config"
	"github.com/connects/connects-reconciler/reconcile"
)

// NewLogger builds the one logger: console on a terminal, JSON otherwise.
// Levels are coloured only on a terminal, and not when NO_COLOR is set
// (https://no-color.org).
func NewLogger(cfg config.Log, w io.Writer, getenv func(string) string) *zap.Logger {
	log, _ := NewLoggerLive(cfg, w, getenv)
	return log
}

// NewLoggerLive is NewLogger, and when the log is a console on a terminal,
// the function that shows a live progress line on it (else nil: progress
// goes to the log as records).
func NewLoggerLive(cfg config.Log, w io.Writer, getenv func(string) string) (*zap.Logger, func(string)) {
	format := LogFormat(cfg, w)
	level, err := zapcore.ParseLevel(cfg.Level)
	if err != nil {
		level = zapcore.InfoLevel
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	var encoder zapcore.Encoder
	var live func(string)
	if format == "console" {
		enc.EncodeLevel = zapcore.CapitalLevelEncoder
		if IsTerminal(w) && getenv("NO_COLOR") == "" {
			enc.EncodeLevel = zapcore.CapitalColorLevelEncoder
		}
		encoder = zapcore.NewConsoleEncoder(enc)
		if IsTerminal(w) {
			l := newLiveLine(w, getenv)
			w, live = l, l.Show
		}
	} else {
		encoder = zapcore.NewJSONEncoder(enc)
	}
	return zap.New(zapcore.NewCore(encoder, zapcore.Lock(zapcore.AddSync(w)), level)), live
}

// NewProgress is the progress reporter of long work with the configured
// interval, logging to log, or shown on live when set (NewLoggerLive); nil
// when progress is turned off (progress_interval 0s).
func NewProgress(cfg config.Log, log *zap.Logger, live func(string)) *reconcile.Progress {
	if cfg.ProgressInterval <= 0 {
		return nil
	}
	return &reconcile.Progress{Log: log, Every: cfg.ProgressInterval, Live: live}
}

// LogFormat is the format NewLogger writes to w: console or json.
func LogFormat(cfg config.Log, w io.Writer) string {
	if cfg.Format == "auto" {
		if IsTerminal(w) {
			return "console"
		}
		return "json"
	}
	return cfg.Format
}

// IsTerminal reports whether w is a character device.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// LogConfig logs the configuration once, compactly: the database (password
// masked) and the settings that differ from their defaults (see -h for
// those).
func LogConfig(log *zap.Logger, cfg config.Config) {
	var changed []string
	for _, kv := range cfg.Changed() {
		if kv[0] != "database_url" {
			changed = append(changed, kv[0]+"="+kv[1])
		}
	}
	settings := "all defaults"
	if len(changed) > 0 {
		settings = strings.Join(changed, " ")
	}
	log.Info("configuration", zap.String("database", config.Redact(cfg.Database.URL)), zap.String("settings", settings))
}
