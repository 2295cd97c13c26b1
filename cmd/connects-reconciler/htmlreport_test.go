package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/connects/connects-reconciler/reconcile"
)

// The report is one self-contained page: it parses, loads nothing from
// anywhere (no script, stylesheet, font, image or frame; no http(s) URL), and
// its totals tie to the export of the same period, whose checksum it names.
func TestReportSelfContainedAndTiesOut(t *testing.T) {
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
	checkSelfContained(t, page)

	code, csvOut, stderr := invoke(t, env, "export", "--from", from, "--to", to)
	if code != exitOK {
		t.Fatalf("export: exit %d:\n%s", code, stderr)
	}
	sum := sha256.Sum256([]byte(csvOut))
	if !strings.Contains(page, hex.EncodeToString(sum[:])) {
		t.Errorf("the page does not name the export's SHA-256 %x", sum)
	}
	var ledger struct {
		N        int64 `db:"n"`
		Connects int64 `db:"connects"`
	}
	if err := db.Get(&ledger, `SELECT count(*) AS n, sum(amount) AS connects FROM connects_ledger
	    WHERE entry_type = 'refund' AND created_at >= $1 AND created_at < $2`, from, to); err != nil {
		t.Fatal(err)
	}
	num := reportFuncs["num"].(func(int64) string)
	usd := reportFuncs["usd"].(func(reconcile.Cents) string)
	total := `<tr class="total"><td>Control total</td><td></td><td></td><td class="n">` + num(ledger.N) +
		`</td><td class="n">` + num(ledger.Connects) + `</td><td class="n">` + usd(reconcile.Price(1500).Value(ledger.Connects)) + `</td></tr>`
	if !strings.Contains(page, total) {
		t.Errorf("the page's control totals do not tie to the ledger; want\n%s", total)
	}
	for _, want := range []string{"<svg", "Refunds per day, by rule", "<code>" + runID + "</code>", "Discrepancies and missing refunds", "unexpected_refund", "amount_mismatch"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

// checkSelfContained parses the page as HTML (encoding/xml in HTML mode) and
// fails on anything a browser would fetch.
func checkSelfContained(t *testing.T, page string) {
	t.Helper()
	for _, bad := range []string{"http://", "https://", "@import", "url(", "//fonts."} {
		if strings.Contains(page, bad) {
			t.Errorf("the page contains %q", bad)
		}
	}
	d := xml.NewDecoder(strings.NewReader(page))
	d.Strict = false
	d.AutoClose = xml.HTMLAutoClose
	d.Entity = xml.HTMLEntity
	elements := map[string]int{}
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the page does not parse: %v", err)
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		name := strings.ToLower(start.Name.Local)
		elements[name]++
		switch name {
		case "script", "link", "img", "iframe", "object", "embed", "image", "use", "base", "audio", "video", "source":
			t.Errorf("the page has a <%s> element", name)
		}
		for _, a := range start.Attr {
			switch strings.ToLower(a.Name.Local) {
			case "src", "href", "srcset", "action", "poster", "data":
				t.Errorf("<%s> has %s=%q", name, a.Name.Local, a.Value)
			}
		}
	}
	for _, want := range []string{"html", "head", "body", "svg", "table", "rect"} {
		if elements[want] == 0 {
			t.Errorf("the page has no <%s>", want)
		}
	}
}

func TestNiceScale(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ most, top, step int64 }{
		{0, 5, 1}, {1, 1, 1}, {4, 4, 1}, {7, 8, 2}, {23, 25, 5}, {254, 300, 100}, {1000, 1000, 200}, {1234, 1250, 250},
	} {
		if top, step := niceScale(c.most); top != c.top || step != c.step {
			t.Errorf("niceScale(%d) = %d, %d; want %d, %d", c.most, top, step, c.top, c.step)
		}
	}
}
