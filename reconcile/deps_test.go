package reconcile_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The domain and the adapters beside it never reach the database driver,
// sqlx or the store: only the postgres adapter (and its test helpers) does;
// wiring them together is cmd's. Read from go list, so that an import
// anywhere down a package's dependencies counts.
func TestOnlyTheAdapterReachesTheDriver(t *testing.T) {
	t.Parallel()
	const module = "github.com/connects/connects-reconciler/"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, module+"reconcile/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	forbidden := []string{"github.com/jmoiron/sqlx", "github.com/lib/pq", module + "reconcile/postgres"}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg, deps := fields[0], fields[1:]
		if pkg == module+"reconcile/postgres" || strings.HasPrefix(pkg, module+"reconcile/postgres/") {
			continue
		}
		checked++
		for _, dep := range deps {
			for _, f := range forbidden {
				if dep == f || strings.HasPrefix(dep, f+"/") {
					t.Errorf("%s imports %s (through its dependencies): only reconcile/postgres may", pkg, dep)
				}
			}
		}
	}
	if checked < 4 {
		t.Errorf("checked %d packages under reconcile/, want the domain and its adapters: %s", checked, out)
	}
}
