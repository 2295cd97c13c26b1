package config_test

import (
	"strings"
	"testing"

	"github.com/connects/connects-reconciler/config"
)

// Redact must hide the password of every DSN a person might type, including
// the ones that do not parse: those are logged in the configuration line
// before the connection fails.
func TestRedactHidesEveryPassword(t *testing.T) {
	t.Parallel()
	const pw = "Pw-s3cr3t"
	for _, dsn := range []string{
		"postgres://app:" + pw + "@db.internal:5432/connects?sslmode=require",
		"postgresql://app:" + pw + "@db.internal/connects",
		"postgres://app:" + pw + "@127.0.0.1:notaport/db", // bad port: url.Parse fails
		"postgres://app:" + pw + "@[::1/db",               // bad host
		"postgres://app:" + pw + "%zz@127.0.0.1/db",       // bad escape
		"postgres://app:" + pw + "@x@127.0.0.1:bad/db",    // '@' in the password
		"postgres://127.0.0.1:bad/db?sslmode=disable&password=" + pw,
		"postgres://app@127.0.0.1/db?password=" + pw,
		"host=127.0.0.1 user=app password=" + pw + " dbname=x",
		"host=127.0.0.1 user=app password='" + pw + " with spaces' dbname=x",
		"host=127.0.0.1 user=app password = " + pw,
		"host=127.0.0.1 password='it\\'s " + pw + "'",
		"password=" + pw + " host=h://x",
	} {
		got := config.Redact(dsn)
		if strings.Contains(got, pw) || strings.Contains(got, "with spaces") {
			t.Errorf("Redact(%q) = %q: the password shows", dsn, got)
		}
		if !strings.Contains(got, "xxxxx") {
			t.Errorf("Redact(%q) = %q: want the password masked as xxxxx", dsn, got)
		}
	}
	if got := config.Redact("postgres://app@127.0.0.1:5432/db"); got != "postgres://app@127.0.0.1:5432/db" {
		t.Errorf("a DSN without a password must stay as it is, got %q", got)
	}
}
