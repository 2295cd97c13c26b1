// Package pgbin finds PostgreSQL's server programs (initdb, pg_ctl,
// pg_basebackup), for the test harness and the benchmark that start a local
// cluster or a hot standby of their own.
package pgbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Dir returns the first directory that holds every one of programs, among
// PG_BINDIR, pg_config --bindir and /usr/lib/postgresql/*/bin (newest
// first).
func Dir(programs ...string) (string, error) {
	var candidates []string
	if d := os.Getenv("PG_BINDIR"); d != "" {
		candidates = append(candidates, d)
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		candidates = append(candidates, strings.TrimSpace(string(out)))
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	candidates = append(candidates, dirs...)
	for _, d := range candidates {
		ok := true
		for _, b := range programs {
			if _, err := os.Stat(filepath.Join(d, b)); err != nil {
				ok = false
			}
		}
		if ok {
			return d, nil
		}
	}
	return "", fmt.Errorf("no directory with %s among %v (set PG_BINDIR, or install the postgresql server package)",
		strings.Join(programs, ", "), candidates)
}
