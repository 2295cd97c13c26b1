package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/connects/connects-reconciler/reconcile/postgres/pgtest"
)

// readme returns the repository's README.
func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The README says where make build puts the binary (the Makefile's BIN),
// and that make demo empties an existing connects_demo.
func TestReadmeBuild(t *testing.T) {
	t.Parallel()
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^BIN\s*:?=\s*(\S+)`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("the Makefile sets no BIN")
	}
	r := readme(t)
	if !strings.Contains(r, "`make build`") || !strings.Contains(r, "**`"+string(m[1])+"`**") {
		t.Errorf("the README does not say that make build puts the binary in %s", m[1])
	}
	if !strings.Contains(r, "**`make demo` empties an existing `connects_demo`**") {
		t.Error("the README does not warn that make demo empties an existing connects_demo")
	}
}

// The README's quick start runs as written, after the demo's seed and run,
// against a database of the test's own: export (with its checksum),
// the discrepancies export with a BOM, the report to stdout, discrepancies
// list and ack, explain.
func TestReadmeQuickStart(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	r := readme(t)
	i := strings.Index(r, "### Quick start")
	if i < 0 {
		t.Fatal("the README has no quick start")
	}
	block := regexp.MustCompile("(?s)```sh\n(.*?)```").FindStringSubmatch(r[i:])
	if block == nil {
		t.Fatal("the quick start has no sh block")
	}
	script := block[1]
	for _, want := range []string{"bin/connects-reconciler export ", "--kind discrepancies", "bin/connects-reconciler report ",
		"bin/connects-reconciler explain ", "bin/connects-reconciler discrepancies list"} {
		if !strings.Contains(script, want) {
			t.Errorf("the quick start does not show %q", want)
		}
	}

	url := pgtest.NewURL(t)
	// what make demo did before
	if code, _, stderr := runBinary(t, bin, url, "seed", "--proposals", "3000", "--seed", "42"); code != exitOK {
		t.Fatalf("seed: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := runBinary(t, bin, url, "run", "--format", "json"); code != exitOK {
		t.Fatalf("run: exit %d\n%s", code, stderr)
	}
	// the demo's URL becomes the test's database
	script = regexp.MustCompile(`(?m)^export DATABASE_URL=.*$`).ReplaceAllString(script, "")
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(bin, filepath.Join(dir, "bin", "connects-reconciler")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = []string{"DATABASE_URL=" + url, "PATH=" + os.Getenv("PATH"), "RECONCILER_LOG_FORMAT=json"}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("the quick start failed: %v\n%s\n%s", err, out.String(), errOut.String())
	}
	for _, f := range []string{"refunds.csv", "refunds.csv.sha256", "refunds.csv.manifest.json", "discrepancies.csv", "report.html"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || len(b) == 0 {
			t.Errorf("%s: %v (%d bytes)", f, err, len(b))
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "report.html")); !bytes.HasPrefix(b, []byte("<!DOCTYPE html>")) {
		t.Errorf("report.html from stdout is not the page: %.80q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "discrepancies.csv")); !bytes.HasPrefix(b, []byte("\xef\xbb\xbf")) {
		t.Error("discrepancies.csv has no BOM")
	}
	for _, want := range []string{"refunds.csv: OK", "acknowledged ", "Policy: OWED"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the quick start's output lacks %q:\n%s", want, out.String())
		}
	}
}
