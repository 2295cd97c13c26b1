package config

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/connects/connects-reconciler/reconcile"
)

func load(t *testing.T, env map[string]string, args ...string) (Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := Register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return f.Load(func(k string) string { return env[k] })
}

func TestDefaultsAreTheContract(t *testing.T) {
	t.Parallel()
	cfg, err := load(t, map[string]string{"DATABASE_URL": "postgres://x@y/z"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Policy.SettleDelay != 15*time.Minute || !cfg.Policy.TOSRemoved || !cfg.Policy.TOSRemovedBoost ||
		!cfg.Policy.ClosedWithoutHire || !cfg.Policy.ClosedWithoutHireBoost || cfg.Policy.RefundDeclined ||
		!cfg.Policy.BoostOutbid || len(cfg.Policy.EligibleInteractions) != 6 {
		t.Errorf("default policy: got %+v", cfg.Policy)
	}
	if cfg.Run.Full || cfg.Run.Lookback != time.Hour || cfg.Run.Shard.Sharded() {
		t.Errorf("default run options: got %+v", cfg.Run)
	}
}

func TestLayersFileEnvFlags(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "c.json")
	os.WriteFile(path, []byte(`{"settle_delay": "30m", "max_refunds": 10, "refund_declined": true,
		"eligible_interactions": ["opened", "messaged"], "lookback": "2h"}`), 0o600)
	cfg, err := load(t, map[string]string{"DATABASE_URL": "postgres://x@y/z", "RECONCILER_MAX_REFUNDS": "20",
		"RECONCILER_CONFIG": path}, "--max-refunds", "30", "--full", "--shard", "1/4")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Policy.SettleDelay != 30*time.Minute || !cfg.Policy.RefundDeclined || cfg.Run.Lookback != 2*time.Hour {
		t.Errorf("file values not applied: %+v %+v", cfg.Policy, cfg.Run)
	}
	if got := strings.Join(cfg.Policy.EligibleInteractions, ","); got != "opened,messaged" {
		t.Errorf("eligible interactions: got %s", got)
	}
	if cfg.Limits.MaxRefunds != 30 {
		t.Errorf("flag must win over env and file: max_refunds %d, want 30", cfg.Limits.MaxRefunds)
	}
	if !cfg.Run.Full || cfg.Run.Shard != (reconcile.Shard{Index: 1, Count: 4}) {
		t.Errorf("run options: got %+v", cfg.Run)
	}
}

func TestEveryProblemReportedAtOnce(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "c.json")
	os.WriteFile(path, []byte(`{"settle_dealy": "30m", "batch_size": 0}`), 0o600)
	_, err := load(t, map[string]string{"RECONCILER_LOOKBACK": "an hour", "RECONCILER_CONFIG": path},
		"--shard", "4/4", "--apply-batch-size", "x", "--log-level", "loud")
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("got %v, want a *config.Error", err)
	}
	for _, want := range []string{`unknown setting "settle_dealy"`, "batch_size: must be at least 1", "RECONCILER_LOOKBACK",
		"--shard", "--apply-batch-size", "--log-level", "DATABASE_URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestShardFromIndexedJob(t *testing.T) {
	t.Parallel()
	cfg, err := load(t, map[string]string{"DATABASE_URL": "host=x", "JOB_COMPLETION_INDEX": "2", "RECONCILER_SHARD_COUNT": "3"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Run.Shard != (reconcile.Shard{Index: 2, Count: 3}) {
		t.Errorf("shard: got %+v, want 2/3", cfg.Run.Shard)
	}
	if _, err := load(t, map[string]string{"DATABASE_URL": "host=x", "RECONCILER_SHARD_COUNT": "3"}); err == nil {
		t.Error("shard_count without an index must be an error")
	}
	if _, err := load(t, map[string]string{"DATABASE_URL": "host=x", "JOB_COMPLETION_INDEX": "3", "RECONCILER_SHARD_COUNT": "3"}); err == nil {
		t.Error("an index out of range must be an error")
	}
}

func TestSecretsMasked(t *testing.T) {
	t.Parallel()
	cfg, err := load(t, map[string]string{"DATABASE_URL": "postgres://u:hunter2@h/db"})
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range cfg.Fields(func(string) string { return "masked" }) {
		if strings.Contains(kv[1], "hunter2") {
			t.Errorf("%s leaks the password", kv[0])
		}
	}
}

// A malformed database URL is a configuration error naming the part at
// fault, never the password; well-formed ones pass.
func TestMalformedDatabaseURL(t *testing.T) {
	t.Parallel()
	const pw = "Pw-s3cr3t"
	bad := []struct{ dsn, says string }{
		{"postgres://app:" + pw + "@127.0.0.1:notaport/db", `port "notaport"`},
		{"postgres://app:" + pw + "@127.0.0.1:70000/db", `port "70000"`},
		{"postgres://app:" + pw + "%zz@127.0.0.1/db", "the user or password has a bad %-escape"},
		{"postgres://app:" + pw + "@127.0.0.1/db?sslmode=bogus", `sslmode "bogus"`},
		{"postgres://app:" + pw + "@127.0.0.1/db?connect_timeout=abc", `connect_timeout "abc"`},
		{"host=127.0.0.1 port=x user=app password=" + pw, `port "x"`},
		{"host=127.0.0.1 user=app password='" + pw + " two' sslmode=bogus", `sslmode "bogus"`},
		{"host=127.0.0.1 password='" + pw, "the value of password has no closing quote"},
		{"mysql://app:" + pw + "@h/db", "not a postgres:// or postgresql:// URL"},
	}
	for _, c := range bad {
		_, err := load(t, map[string]string{"DATABASE_URL": c.dsn})
		var cerr *Error
		if !errors.As(err, &cerr) || !strings.Contains(err.Error(), "database url: "+c.says) {
			t.Errorf("%s: got %v, want a configuration error saying %q", c.says, err, c.says)
		}
		if err != nil && (strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), "two")) {
			t.Errorf("%s: the message prints the password: %v", c.says, err)
		}
	}
	for _, dsn := range []string{"postgres://app:p%40ss@[::1]:5432,h2:5433/db?sslmode=verify-full&connect_timeout=5",
		"postgresql:///db?host=/var/run/postgresql", "host=h port=5432 password='a \\' b' sslmode=disable", "host=h"} {
		if _, err := load(t, map[string]string{"DATABASE_URL": dsn}); err != nil {
			t.Errorf("%s: %v", dsn, err)
		}
	}
}
