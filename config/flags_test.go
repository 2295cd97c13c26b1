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
)

func TestSuggest(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Bool("dry-run", false, "")
	Register(fs)
	for _, tt := range []struct{ typed, want string }{
		{"dryrun", " (did you mean --dry-run?)"},
		{"dry_run", " (did you mean --dry-run?)"},
		{"max-refund", " (did you mean --max-refunds?)"},
		{"zzzzzzzz", ""},
	} {
		err := fs.Parse([]string{"--" + tt.typed})
		if got := Suggest(fs, err); got != tt.want {
			t.Errorf("--%s: got %q, want %q", tt.typed, got, tt.want)
		}
	}
	if got := Suggest(fs, errors.New("invalid value")); got != "" {
		t.Errorf("another error: got %q, want none", got)
	}
}

// Every setting belongs to a group, so every subcommand can say which it reads.
func TestEverySettingHasAGroup(t *testing.T) {
	t.Parallel()
	for _, s := range settings {
		if groupOf[s.key] == "" {
			t.Errorf("setting %s has no group", s.key)
		}
	}
	for key := range groupOf {
		if _, ok := lookup(key); !ok {
			t.Errorf("groupOf names %s, no setting", key)
		}
	}
}

// A command takes only the settings of its groups: no flag for the others,
// and a file or environment setting of another group is neither applied nor
// checked, so one file serves every command; unknown keys still fail.
func TestGroupsLimitTheSettings(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := Register(fs, GroupDatabase)
	if fs.Lookup("tos-removed") != nil || fs.Lookup("schedule") != nil || fs.Lookup("database-url") == nil || fs.Lookup("log-level") == nil {
		t.Fatal("migrate's flags: want database and log settings only")
	}
	file := filepath.Join(t.TempDir(), "c.json")
	if err := os.WriteFile(file, []byte(`{"schedule": "every now and then", "max_refunds": -3, "statement_timeout": "1m"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DATABASE_URL": "postgres://x@y/z", EnvPrefix + "CONFIG": file, EnvPrefix + "TIME_ZONE": "Mars/Olympus"}
	cfg, err := f.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("settings of other groups must be ignored: %v", err)
	}
	if cfg.Database.StatementTimeout != time.Minute || cfg.Limits.MaxRefunds != Default().Limits.MaxRefunds {
		t.Errorf("statement_timeout %s (want 1m, its group is read), max_refunds %d (want the default)", cfg.Database.StatementTimeout, cfg.Limits.MaxRefunds)
	}
	// The schedule command reads the schedule and rejects the bad one.
	sfs := flag.NewFlagSet("schedule", flag.ContinueOnError)
	sfs.SetOutput(io.Discard)
	if _, err := Register(sfs, GroupSchedule).Load(func(k string) string { return env[k] }); err == nil ||
		!strings.Contains(err.Error(), "schedule") || !strings.Contains(err.Error(), "Mars/Olympus") {
		t.Errorf("schedule command: got %v, want the schedule and the time zone refused", err)
	}
	if err := os.WriteFile(file, []byte(`{"scheduel": "@hourly"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Load(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "scheduel") {
		t.Errorf("an unknown key: got %v, want it named", err)
	}
}
