package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// The replica's URL is read like the database's: env REPLICA_DATABASE_URL
// (no prefix), flag --replica-database-url, masked in the logged settings;
// max_replica_lag defaults to 30m.
func TestReplicaSettings(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": "postgres://u@primary/db", "REPLICA_DATABASE_URL": "postgres://u:hunter2@replica/db"}
	cfg, err := load(t, env)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Database.ReplicaURL != env["REPLICA_DATABASE_URL"] || cfg.Run.MaxReplicaLag != 30*time.Minute {
		t.Fatalf("replica %q, max lag %s", cfg.Database.ReplicaURL, cfg.Run.MaxReplicaLag)
	}
	for _, kv := range cfg.Fields(func(string) string { return "masked" }) {
		if strings.Contains(kv[1], "hunter2") {
			t.Errorf("%s leaks the replica's password", kv[0])
		}
	}
	cfg, err = load(t, env, "--replica-database-url", "postgres://u@other/db", "--max-replica-lag", "0s")
	if err != nil || cfg.Database.ReplicaURL != "postgres://u@other/db" || cfg.Run.MaxReplicaLag != 0 {
		t.Fatalf("flags: %v, replica %q, max lag %s", err, cfg.Database.ReplicaURL, cfg.Run.MaxReplicaLag)
	}
	if _, err := load(t, map[string]string{"DATABASE_URL": "x", "RECONCILER_MAX_REPLICA_LAG": "soon"}); err == nil {
		t.Fatal("a max_replica_lag that is no duration must be refused")
	}
}

// A malformed replica URL is a configuration error (exit 2) like a malformed
// database URL: it names the part at fault and the setting, never the
// password.
func TestMalformedReplicaURL(t *testing.T) {
	t.Parallel()
	const pw = "Pw-r3pl1ca"
	bad := []struct{ dsn, says string }{
		{"postgres://app:" + pw + "@127.0.0.1:notaport/db", `port "notaport"`},
		{"postgres://app:" + pw + "%zz@127.0.0.1/db", "the user or password has a bad %-escape"},
		{"postgres://app:" + pw + "@127.0.0.1/db?sslmode=bogus", `sslmode "bogus"`},
		{"host=127.0.0.1 password='" + pw, "the value of password has no closing quote"},
	}
	for _, c := range bad {
		_, err := load(t, map[string]string{"DATABASE_URL": "postgres://app@primary/db", "REPLICA_DATABASE_URL": c.dsn})
		var cerr *Error
		if !errors.As(err, &cerr) || !strings.Contains(err.Error(), "replica database url: "+c.says) {
			t.Errorf("%s: got %v, want a configuration error saying replica database url: %q", c.says, err, c.says)
		}
		if err != nil && strings.Contains(err.Error(), pw) {
			t.Errorf("%s: the message prints the password: %v", c.says, err)
		}
	}
	if _, err := load(t, map[string]string{"DATABASE_URL": "postgres://app@primary/db", "REPLICA_DATABASE_URL": "postgres://app:p%40ss@replica:5432/db?sslmode=require"}); err != nil {
		t.Errorf("a well-formed replica URL: %v", err)
	}
}

// statement_timeout 0 (no server-side bound) with a finite stall_timeout
// could cut off a long statement PostgreSQL is still running: refused, all
// problems in one message; both 0, or a statement_timeout below the stall
// bound, are accepted.
func TestUnboundedStatementWithStallTimeout(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": "postgres://app@primary/db"}
	_, err := load(t, env, "--statement-timeout", "0s")
	var cerr *Error
	if !errors.As(err, &cerr) || !strings.Contains(err.Error(), "stall_timeout") || !strings.Contains(err.Error(), "statement_timeout 0s") {
		t.Fatalf("statement_timeout 0s with the default stall_timeout: got %v, want a configuration error naming both", err)
	}
	for _, args := range [][]string{
		{"--statement-timeout", "0s", "--stall-timeout", "0s"},
		{"--statement-timeout", "1m", "--stall-timeout", "2m"},
		{"--statement-timeout", "1m", "--stall-timeout", "0s"},
	} {
		if _, err := load(t, env, args...); err != nil {
			t.Errorf("%v: %v", args, err)
		}
	}
}
