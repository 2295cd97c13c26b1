package pgtest

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/connects/connects-reconciler/internal/pgbin"
)

// PasswordServer is a PostgreSQL cluster of its own as a plain local install
// has it: password authentication (scram-sha-256) over TCP and no SSL, with
// an empty database owned by an ordinary user. The shared test server trusts
// every connection and has SSL on, so it cannot show what a user who brings
// their own database meets.
type PasswordServer struct {
	// URL is the user's database as that user would write it: user,
	// password, host, port and database, and no sslmode.
	URL string
	// AdminURL is the superuser's, over TCP with its password.
	AdminURL string
	// User, Password, Database and Port are URL's parts.
	User, Password, Database string
	Port                     int
}

// NewPasswordServer starts such a cluster in a temporary directory, stopped
// and removed when the test ends. Where it cannot be started the test fails:
// it never skips.
func NewPasswordServer(t testing.TB) *PasswordServer {
	t.Helper()
	r := &Replicated{t: t}
	var err error
	if r.bin, err = pgbin.Dir("initdb", "pg_ctl"); err != nil {
		t.Fatalf("pgtest: a password-auth server needs the PostgreSQL server binaries: %v", err)
	}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			t.Fatalf("pgtest: running as root, the server needs the OS user postgres to own it: %v", err)
		}
		r.owner = "postgres"
	}
	if r.dir, err = os.MkdirTemp("", "crpassword-"); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	r.primaryData = filepath.Join(r.dir, "data")
	r.standbyData = filepath.Join(r.dir, "none") // never created
	t.Cleanup(r.cleanup)
	r.chown(r.dir)

	s := &PasswordServer{User: "shop_app", Password: "pw-" + randomHex(8), Database: "shop", Port: freePort(t)}
	superPassword := "su-" + randomHex(8)
	pwfile := filepath.Join(r.dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(superPassword+"\n"), 0o600); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	r.chown(pwfile)
	// Unix sockets trust (initdb's own use); TCP asks for a password.
	r.as("initdb", "-D", r.primaryData, "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256",
		"--pwfile="+pwfile, "--encoding=UTF8", "--no-locale", "--no-sync")
	r.appendConf(r.primaryData, map[string]string{
		"port": strconv.Itoa(s.Port), "listen_addresses": "'127.0.0.1'", "unix_socket_directories": "'" + r.dir + "'",
		"ssl": "off", "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
		"shared_buffers": "32MB", "max_connections": "40",
	})
	r.as("pg_ctl", "-D", r.primaryData, "-l", filepath.Join(r.dir, "primary.log"), "-w", "-t", "60", "start")

	s.AdminURL = fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/postgres?sslmode=disable", superPassword, s.Port)
	admin := r.open(s.AdminURL)
	for _, stmt := range []string{
		fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", s.User, s.Password),
		fmt.Sprintf("CREATE DATABASE %s OWNER %s", s.Database, s.User),
	} {
		if _, err := admin.Exec(stmt); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
	}
	admin.Close()
	s.URL = fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s", s.User, s.Password, s.Port, s.Database)
	return s
}
