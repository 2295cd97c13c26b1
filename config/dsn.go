package config

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// sslModes are the sslmode values lib/pq accepts.
var sslModes = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}

// checkDSN finds what is malformed in a PostgreSQL URL or key=value DSN, so
// that it is reported as configuration (exit 2) rather than as a database
// that cannot be reached. The reason names the part at fault and never
// quotes the user information or a password.
func checkDSN(dsn string) error {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return checkURL(dsn)
	}
	if strings.Contains(dsn, "://") {
		return errors.New("not a postgres:// or postgresql:// URL, nor key=value settings")
	}
	return checkKeyValues(dsn)
}

func checkURL(dsn string) error {
	rest := dsn[strings.Index(dsn, "://")+3:]
	authority, query := rest, ""
	if i := strings.IndexAny(rest, "?"); i >= 0 {
		authority, query = rest[:i], rest[i+1:]
	}
	if i := strings.Index(authority, "/"); i >= 0 {
		if _, err := url.PathUnescape(authority[i+1:]); err != nil {
			return errors.New("the database name has a bad %-escape")
		}
		authority = authority[:i]
	}
	hosts := authority
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		userinfo := authority[:at]
		hosts = authority[at+1:]
		if _, err := url.PathUnescape(userinfo); err != nil {
			return errors.New("the user or password has a bad %-escape (write % as %25)")
		}
	}
	for _, h := range strings.Split(hosts, ",") {
		host, port := h, ""
		if strings.HasPrefix(h, "[") {
			end := strings.Index(h, "]")
			if end < 0 {
				return errors.New("the host has an unclosed [")
			}
			host, port = h[:end+1], strings.TrimPrefix(h[end+1:], ":")
		} else if i := strings.LastIndex(h, ":"); i >= 0 {
			host, port = h[:i], h[i+1:]
		}
		if _, err := url.PathUnescape(host); err != nil {
			return errors.New("the host has a bad %-escape")
		}
		if port != "" {
			if err := checkPort(port); err != nil {
				return err
			}
		}
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return errors.New("the query string (after ?) does not parse")
	}
	for k, vs := range q {
		for _, v := range vs {
			if err := checkParam(k, v); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkKeyValues(dsn string) error {
	s := strings.TrimSpace(dsn)
	for s != "" {
		eq := strings.Index(s, "=")
		if eq < 0 {
			return fmt.Errorf("%q is not key=value", firstWord(s))
		}
		key := strings.TrimSpace(s[:eq])
		if key == "" || strings.ContainsAny(key, " \t") {
			return fmt.Errorf("%q is not key=value", firstWord(s))
		}
		s = strings.TrimLeft(s[eq+1:], " \t")
		var val string
		if strings.HasPrefix(s, "'") {
			end, closed := 1, false
			var b strings.Builder
			for end < len(s) {
				c := s[end]
				if c == '\\' && end+1 < len(s) {
					b.WriteByte(s[end+1])
					end += 2
					continue
				}
				if c == '\'' {
					closed = true
					end++
					break
				}
				b.WriteByte(c)
				end++
			}
			if !closed {
				return fmt.Errorf("the value of %s has no closing quote", key)
			}
			val, s = b.String(), s[end:]
		} else {
			end := strings.IndexAny(s, " \t")
			if end < 0 {
				end = len(s)
			}
			val, s = s[:end], s[end:]
		}
		s = strings.TrimLeft(s, " \t")
		if err := checkParam(key, val); err != nil {
			return err
		}
	}
	return nil
}

func firstWord(s string) string {
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		s = s[:i]
	}
	if strings.Contains(strings.ToLower(s), "password") {
		return "password…"
	}
	return s
}

// checkParam checks the parameters whose values can be wrong in form.
func checkParam(key, val string) error {
	switch key {
	case "port":
		return checkPort(val)
	case "sslmode":
		for _, m := range sslModes {
			if val == m {
				return nil
			}
		}
		return fmt.Errorf("sslmode %q is not one of %s", val, strings.Join(sslModes, ", "))
	case "connect_timeout":
		if n, err := strconv.Atoi(val); err != nil || n < 0 {
			return fmt.Errorf("connect_timeout %q is not a whole number of seconds", val)
		}
	}
	return nil
}

func checkPort(p string) error {
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 1 to 65535", p)
	}
	return nil
}

// Redact returns the DSN with its password replaced, for messages and logs.
func Redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		q := u.Query()
		if q.Get("password") != "" {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	// A URL that does not parse (a bad port, a stray %) still carries its
	// user information up to the last '@', and maybe a password parameter.
	if m := brokenURL.FindStringSubmatch(dsn); m != nil {
		rest := m[2]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			rest = "xxxxx" + rest[at:]
		}
		return m[1] + urlPassword.ReplaceAllString(rest, "${1}xxxxx")
	}
	// key=value: the value may be quoted and hold spaces, and '=' may have
	// spaces around it.
	return kvPassword.ReplaceAllString(dsn, "${1}xxxxx")
}

var (
	// brokenURL splits a URL into its scheme and the rest.
	brokenURL = regexp.MustCompile(`^([a-zA-Z][a-zA-Z0-9+.-]*://)(.*)$`)
	// urlPassword matches a password query parameter.
	urlPassword = regexp.MustCompile(`(?i)([?&]password=)[^&]*`)
	// kvPassword matches a password in a key=value DSN: a single-quoted
	// value with backslash escapes, or a bare one.
	kvPassword = regexp.MustCompile(`(\bpassword\s*=\s*)(?:'(?:[^'\\]|\\.)*'?|\S*)`)
)
