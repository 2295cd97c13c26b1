package service

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/connects/connects-reconciler/config"
)

func noEnv(string) string { return "" }

// Off a terminal, auto is JSON; the level filters; console is plain text
// without colour codes.
func TestNewLogger(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	log := NewLogger(config.Log{Level: "warn", Format: "auto"}, &b, noEnv)
	log.Info("hidden")
	log.Warn("shown")
	var line map[string]any
	if err := json.Unmarshal(b.Bytes(), &line); err != nil {
		t.Fatalf("auto off a terminal: want one JSON line, got %q: %v", b.String(), err)
	}
	if line["msg"] != "shown" || line["level"] != "warn" {
		t.Errorf("got %v, want the warning only", line)
	}
	b.Reset()
	NewLogger(config.Log{Level: "bogus", Format: "console"}, &b, noEnv).Info("plain")
	if s := b.String(); !strings.Contains(s, "\tINFO\tplain") || strings.Contains(s, "\x1b[") {
		t.Errorf("console: got %q, want an uncoloured INFO line (an unknown level is info)", s)
	}
	if IsTerminal(&b) {
		t.Error("a buffer is not a terminal")
	}
}

// The configuration line names the database with its password masked and
// only the settings changed from their defaults.
func TestLogConfig(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.Database.URL, cfg.Limits.MaxRefunds = "postgres://u:secret@db/x", 7
	var b bytes.Buffer
	LogConfig(NewLogger(config.Log{Level: "info", Format: "json"}, &b, noEnv), cfg)
	s := b.String()
	if strings.Contains(s, "secret") || !strings.Contains(s, `"settings":"max_refunds=7"`) || !strings.Contains(s, `"msg":"configuration"`) {
		t.Errorf("got %s", s)
	}
}
