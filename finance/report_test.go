package finance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The report is one self-contained page: it parses, loads nothing from
// anywhere (no script, stylesheet, font, image or frame; no http(s) URL), and
// its totals tie to the export of the same period, whose checksum it names.
func TestReport(t *testing.T) {
	t.Parallel()
	f := newTestFinance()
	d, err := f.Report(context.Background(), november)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "report.html")
	if err := WriteReportFile(out, d); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var direct bytes.Buffer
	if err := WriteReport(&direct, d); err != nil || !bytes.Equal(direct.Bytes(), b) {
		t.Errorf("the file and stdout differ (%v)", err)
	}
	page := string(b)
	checkSelfContained(t, page)

	csv, _ := export(t, f, KindRefunds, &november, FormatCSV)
	sum := sha256.Sum256([]byte(csv))
	for _, want := range []string{
		hex.EncodeToString(sum[:]),
		`<tr class="total"><td>Control total</td><td></td><td></td><td class="n">4</td><td class="n">18</td><td class="n">$2.70</td></tr>`,
		`<tr><td>none</td><td>base</td><td>online</td><td class="n">1</td><td class="n">3</td><td class="n">$0.45</td></tr>`,
		"<title>2026-11-01 boost_outbid: 1 refunds, 6 Connects, $0.90</title>",
		"<code>run-a</code>", "unexpected_refund", "amount_mismatch", "2026-11-01 02:00 UTC", "18d 22h",
		"complete: the period ended before this report",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if refunds, discrepancies, runs := d.Counts(); refunds != 4 || discrepancies != 3 || runs != 1 {
		t.Errorf("counts: %d, %d, %d", refunds, discrepancies, runs)
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
