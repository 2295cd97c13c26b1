// Package pgtest gives each test its own real PostgreSQL database, cloned
// from a template that is migrated once per set of migration files (the
// template's name carries a hash of them). The server comes from
// TEST_DATABASE_URL, by default the local one on 127.0.0.1:5432. A server that
// does not answer fails the test: there is no skip.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // driver
	"go.uber.org/zap"

	"github.com/connects/connects-reconciler/config"
	"github.com/connects/connects-reconciler/reconcile/postgres"
	queries "github.com/connects/connects-reconciler/sql"
)

// AdminURL is the server tests create their databases on.
func AdminURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// withDatabase returns base with its database name replaced.
func withDatabase(base, name string) string {
	u, err := url.Parse(base)
	if err != nil {
		panic(fmt.Sprintf("TEST_DATABASE_URL must be a URL: %v", err))
	}
	u.Path = "/" + name
	return u.String()
}

// NewURL creates a fresh, migrated database and returns its URL. It is
// dropped when the test ends.
func NewURL(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin, err := sqlx.Open("postgres", AdminURL())
	if err != nil {
		t.Fatalf("pgtest: open %s: %v", config.Redact(AdminURL()), err)
	}
	defer admin.Close()
	if err := admin.PingContext(ctx); err != nil {
		t.Fatalf("pgtest: PostgreSQL at %s does not answer (start it; tests never skip): %v", config.Redact(AdminURL()), err)
	}
	tpl := ensureTemplate(ctx, t, admin)
	name := "crtest_" + randomHex(6)
	if _, err := admin.ExecContext(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, tpl)); err != nil {
		t.Fatalf("pgtest: create database from %s: %v", tpl, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		admin, err := sqlx.Open("postgres", AdminURL())
		if err != nil {
			return
		}
		defer admin.Close()
		if _, err := admin.ExecContext(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name)); err != nil {
			t.Logf("pgtest: drop %s: %v", name, err)
		}
	})
	return withDatabase(AdminURL(), name)
}

// NewDB returns a connection pool on a fresh, migrated database.
func NewDB(t testing.TB) *sqlx.DB {
	t.Helper()
	db, err := sqlx.Open("postgres", NewURL(t))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// ensureTemplate creates the template database for the current migrations
// once, under an advisory lock so that parallel test binaries agree.
func ensureTemplate(ctx context.Context, t testing.TB, admin *sqlx.DB) string {
	t.Helper()
	name := "crtpl_" + migrationsHash()
	conn, err := admin.Connx(ctx)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(7355608)"); err != nil {
		t.Fatalf("pgtest: lock: %v", err)
	}
	defer conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock(7355608)")

	var exists bool
	if err := conn.GetContext(ctx, &exists, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if exists {
		return name
	}
	building := name + "_build"
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", building)); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if _, err := conn.ExecContext(ctx, "CREATE DATABASE "+building); err != nil {
		t.Fatalf("pgtest: create template: %v", err)
	}
	db, err := sqlx.Open("postgres", withDatabase(AdminURL(), building))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if err := postgres.Migrate(ctx, db, true, zap.NewNop()); err != nil {
		db.Close()
		t.Fatalf("pgtest: migrate template: %v", err)
	}
	db.Close()
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("ALTER DATABASE %s RENAME TO %s", building, name)); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return name
}

// migrationsHash identifies the migration files, so a changed migration gets
// a new template.
func migrationsHash() string {
	h := sha256.New()
	for _, fsys := range []fs.FS{queries.Marketplace, queries.Migrations} {
		_ = fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(fsys, path)
			if err != nil {
				return err
			}
			h.Write([]byte(path))
			h.Write(b)
			return nil
		})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
