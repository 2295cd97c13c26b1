package config

import (
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
