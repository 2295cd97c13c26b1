package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/connects/connects-reconciler/reconcile"
)

// End to end on a seeded marketplace: the report's totals tie to the ledger
// and to the export of the same period, whose rows it counts and, once the
// period is closed, whose checksum it names. That the
// page is self-contained is tested in package finance.
func TestReportTiesOut(t *testing.T) {
	t.Parallel()
	url, db, runID, from, to := seededMarket(t)
	env := map[string]string{"DATABASE_URL": url}
	out := filepath.Join(t.TempDir(), "report.html")
	if code, _, stderr := invoke(t, env, "report", "--from", from, "--to", to, "--out", out); code != exitOK {
		t.Fatalf("report: exit %d:\n%s", code, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)

	code, csvOut, stderr := invoke(t, env, "export", "--from", from, "--to", to)
	if code != exitOK {
		t.Fatalf("export: exit %d:\n%s", code, stderr)
	}
	rows := int64(strings.Count(csvOut, "\n") - 1)
	if want := "writes " + groupThousands(strconv.FormatInt(rows, 10)) + " rows; the period is not closed"; !strings.Contains(page, want) {
		t.Errorf("the page lacks %q: it counts the export's rows, and an open period's export has no fixed checksum", want)
	}
	var ledger struct {
		N        int64 `db:"n"`
		Connects int64 `db:"connects"`
	}
	if err := db.Get(&ledger, `SELECT count(*) AS n, sum(amount) AS connects FROM connects_ledger
	    WHERE entry_type = 'refund' AND created_at >= $1 AND created_at < $2`, from, to); err != nil {
		t.Fatal(err)
	}
	num := func(n int64) string { return groupThousands(strconv.FormatInt(n, 10)) }
	usd := func(c reconcile.Cents) string {
		whole, frac, _ := strings.Cut(c.String(), ".")
		return "$" + groupThousands(whole) + "." + frac
	}
	total := `<tr class="total"><td>Control total</td><td></td><td></td><td class="n">` + num(ledger.N) +
		`</td><td class="n">` + num(ledger.Connects) + `</td><td class="n">` + usd(reconcile.Price(1500).Value(ledger.Connects)) + `</td></tr>`
	if !strings.Contains(page, total) {
		t.Errorf("the page's control totals do not tie to the ledger; want\n%s", total)
	}
	// Closed, the period's page names the export's checksum, recorded when
	// it was closed, and is otherwise the same page.
	if code, _, stderr := invoke(t, env, "close-period", "--from", from, "--to", to, "--by", "ana"); code != exitOK {
		t.Fatalf("close-period: exit %d\n%s", code, stderr)
	}
	closedOut := filepath.Join(t.TempDir(), "closed.html")
	if code, _, stderr := invoke(t, env, "report", "--from", from, "--to", to, "--out", closedOut); code != exitOK {
		t.Fatalf("report: exit %d:\n%s", code, stderr)
	}
	closedPage, err := os.ReadFile(closedOut)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(csvOut))
	named := " rows with SHA-256 <code>" + hex.EncodeToString(sum[:]) + "</code>"
	if !strings.Contains(string(closedPage), named) {
		t.Errorf("the closed period's page does not name the export's SHA-256 %x", sum)
	}
	if a, b := closedPage, []byte(page); strings.Replace(string(a), named, " rows", 1) !=
		strings.Replace(string(b), "; the period is not closed, so its export has no fixed checksum: the export's manifest names the one it wrote", "", 1) {
		t.Errorf("closing the period changed the page beyond the checksum's line:\n%s\n%s", a, b)
	}
	for _, want := range []string{"<svg", "Refunds per day, by rule", "<code>" + runID + "</code>", "Discrepancies and missing refunds", "unexpected_refund", "amount_mismatch"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

func groupThousands(s string) string {
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
