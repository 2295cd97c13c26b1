package postgres

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"

	"github.com/lib/pq"

	"github.com/connects/connects-reconciler/reconcile"
)

// connectConfig parses a DSN the way lib/pq does (the URL or key=value
// settings over the PG* environment) and, when neither sets sslmode, uses
// libpq's and psql's default, prefer: SSL when the server offers it, a plain
// connection when it does not. (lib/pq's own default is require, which fails
// against a server without SSL that psql reaches with the same URL.)
func connectConfig(dsn string) (pq.Config, error) {
	cfg, err := pq.NewConfig(dsn)
	if err != nil {
		return cfg, err
	}
	if cfg.SSLMode == "" {
		cfg.SSLMode = pq.SSLModePrefer
	}
	return cfg, nil
}

// setupError says what to fix when connecting failed in a way no retry can
// mend (wrong credentials, an SSL mismatch, a database or user that does not
// exist, a certificate not trusted), or returns nil.
func setupError(err error) *reconcile.SetupError {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		msg := pqErr.Message
		switch {
		case pqErr.Code == "28P01":
			return &reconcile.SetupError{Err: err, Fix: "the server refused the password: check the user and password in DATABASE_URL (or PGPASSWORD, ~/.pgpass)"}
		case pqErr.Code == "28000" && strings.Contains(msg, "no encryption"):
			return &reconcile.SetupError{Err: err, Fix: "the server accepts this connection only over SSL: remove sslmode=disable from DATABASE_URL, or set sslmode=require"}
		case pqErr.Code == "28000" && strings.Contains(msg, "SSL encryption"):
			return &reconcile.SetupError{Err: err, Fix: "the server accepts this connection only without SSL: set sslmode=disable (or prefer) in DATABASE_URL"}
		case pqErr.Code == "28000" && strings.Contains(msg, "does not exist"):
			return &reconcile.SetupError{Err: err, Fix: "check the user in DATABASE_URL, or create the role on the server"}
		case pqErr.Code == "28000":
			return &reconcile.SetupError{Err: err, Fix: "the server's pg_hba.conf does not let this user reach this database from here: check the user and database in DATABASE_URL, or have the server allow it"}
		case pqErr.Code == "3D000":
			return &reconcile.SetupError{Err: err, Fix: "check the database name in DATABASE_URL, or create the database (createdb NAME)"}
		case pqErr.Code == "42501":
			return &reconcile.SetupError{Err: err, Fix: "the user may not connect to this database: GRANT CONNECT on it, or use another user"}
		}
		return nil
	}
	if errors.Is(err, pq.ErrSSLNotSupported) {
		return &reconcile.SetupError{Err: err, Fix: "DATABASE_URL asks for SSL (sslmode=require or verify-*) and the server has none: set sslmode=disable, or leave sslmode out to use SSL only when the server offers it (prefer, psql's default)"}
	}
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	if errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verify) ||
		strings.Contains(err.Error(), "x509:") {
		return &reconcile.SetupError{Err: err, Fix: "the server's certificate was not accepted: give the CA that signed it as sslrootcert in DATABASE_URL, or use sslmode=require (encrypted, not verified)"}
	}
	return nil
}
