package config

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzLoad feeds the loader arbitrary configuration files, environments and
// command lines. Whatever it gets, it must not panic; every failure is one
// *Error naming at least one problem; and a configuration it accepts must
// load again, unchanged, from its own settings given as flags.
//
// The inputs: file is the --config file's content (none when empty); env is
// KEY=VALUE lines; args is one command-line argument per line. The corpus is
// in testdata/fuzz/FuzzLoad; `make fuzz` runs the fuzzer for a while.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(nil), "DATABASE_URL=postgres://u:pw@h/db", "")
	f.Add([]byte(`{"settle_delay": "30m", "max_refunds": 5000, "closed_without_hire_boost": false}`), "DATABASE_URL=host=x", "--full")
	f.Add([]byte(`{"eligible_interactions": ["opened", " messaged "], "lookback": "2h", "retries": 20}`),
		"DATABASE_URL=host=h password='a b'\nRECONCILER_MAX_REFUNDS=20", "--max-refunds\n30\n--shard\n1/4")
	f.Add([]byte(`{"settle_dealy": "30m", "batch_size": 0}`), "RECONCILER_LOOKBACK=an hour", "--apply-batch-size=x\n--log-level=loud")
	f.Add([]byte(`[1, 2]`), "DATABASE_URL=host=x\nJOB_COMPLETION_INDEX=2\nRECONCILER_SHARD_COUNT=3", "")
	f.Add([]byte(`{"shard": "3/3", "retry_backoff": "0s", "statement_timeout": "-1s"}`), "", "--full=maybe")
	f.Add([]byte(`{"max_connects": 1e400, "apply_batch_size": 100001, "schedule": "@every 1s", "time_zone": "Mars/Olympus"}`),
		"DATABASE_URL=host=x", "--connect-timeout=0s")
	f.Add([]byte("{\"database_url\": \"postgres://\u0000\"}"), "", "--eligible-interactions=, ,")
	f.Fuzz(func(t *testing.T, file []byte, env, args string) {
		fs := flag.NewFlagSet("fuzz", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		flags := Register(fs)
		var argv []string
		if args != "" {
			for _, a := range strings.Split(args, "\n") {
				// The file comes from the file input: another path could be
				// a device that never ends (/dev/zero).
				if !strings.HasPrefix(strings.TrimLeft(a, "-"), "config") {
					argv = append(argv, a)
				}
			}
		}
		if len(file) > 0 {
			path := filepath.Join(t.TempDir(), "config.json")
			if err := os.WriteFile(path, file, 0o600); err != nil {
				t.Fatal(err)
			}
			argv = append([]string{"--config", path}, argv...)
		}
		if err := fs.Parse(argv); err != nil {
			return // the flag package's message; cmd turns it into exit 2
		}
		vars := map[string]string{}
		for _, line := range strings.Split(env, "\n") {
			if k, v, ok := strings.Cut(line, "="); ok && k != EnvPrefix+"CONFIG" {
				vars[k] = v
			}
		}
		cfg, err := flags.Load(func(k string) string { return vars[k] })
		if err != nil {
			cerr, ok := err.(*Error)
			if !ok {
				t.Fatalf("Load returned %T, want *config.Error: %v", err, err)
			}
			if len(cerr.Problems) == 0 {
				t.Fatal("a *config.Error without problems")
			}
			for _, p := range cerr.Problems {
				if p == nil || p.Error() == "" {
					t.Fatalf("an empty problem in %q", err)
				}
			}
			return
		}

		// Round trip: the accepted settings, as flags, load the same.
		fs2 := flag.NewFlagSet("again", flag.ContinueOnError)
		fs2.SetOutput(io.Discard)
		flags2 := Register(fs2)
		var again []string
		for _, kv := range cfg.Fields(func(s string) string { return s }) {
			if kv[1] != "" { // empty is "not set": pushgateway_url refuses an explicit ""
				again = append(again, "--"+strings.ReplaceAll(kv[0], "_", "-")+"="+kv[1])
			}
		}
		if err := fs2.Parse(again); err != nil {
			t.Fatalf("the accepted settings do not parse as flags: %v\n%q", err, again)
		}
		cfg2, err := flags2.Load(func(string) string { return "" })
		if err != nil {
			t.Fatalf("the accepted settings do not load again: %v\n%q", err, again)
		}
		if got, want := cfg2.Fields(func(s string) string { return s }), cfg.Fields(func(s string) string { return s }); !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip changed the settings:\n got %q\nwant %q", got, want)
		}
		if !reflect.DeepEqual(cfg2.Policy, cfg.Policy) || cfg2.Limits != cfg.Limits || !reflect.DeepEqual(cfg2.Run, cfg.Run) ||
			cfg2.Database != cfg.Database || cfg2.Log != cfg.Log || cfg2.ShardCount != cfg.ShardCount {
			t.Fatalf("round trip changed the configuration:\n got %+v\nwant %+v", cfg2, cfg)
		}
	})
}

// The loader's errors are all *Error, also when the file cannot be read.
func TestLoadErrorsAreConfigErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, args := range [][]string{{"--config", filepath.Join(dir, "missing.json")}, {"--config", dir}} {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		flags := Register(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		_, err := flags.Load(func(k string) string { return map[string]string{"DATABASE_URL": "host=x"}[k] })
		var cerr *Error
		if !errors.As(err, &cerr) || !strings.Contains(err.Error(), "config file") {
			t.Errorf("%v: got %v, want a *config.Error about the config file", args, err)
		}
	}
}
