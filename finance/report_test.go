package finance

import (
	"bytes"
	"context"
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
// its totals tie to the export of the same period, whose rows it counts.
func TestReport(t *testing.T) {
	t.Parallel()
	f := newTestFinance()
	d, err := f.Report(context.Background(), november, false)
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

	_, m := export(t, f, KindRefunds, &november, FormatCSV)
	if m.Rows != 4 {
		t.Fatalf("the export wrote %d rows", m.Rows)
	}
	for _, want := range []string{
		// the period is not closed: its export's checksum is not fixed
		"writes 4 rows; the period is not closed",
		`<tr class="total"><td>Control total</td><td></td><td></td><td class="n">4</td><td class="n">18</td><td class="n">$2.70</td></tr>`,
		`<tr><td>none</td><td>base</td><td>online</td><td class="n">1</td><td class="n">3</td><td class="n">$0.45</td></tr>`,
		"<title>2026-11-01 boost_outbid: 1 refunds, 6 Connects, $0.90</title>",
		"<code>run-a</code>", "unexpected_refund", "amount_mismatch", "2026-11-01 02:00 UTC",
		"complete: the period ended before this report",
		// the headline: the sweep's missing refunds, pending ones apart
		`<div class="k">Missing refunds the last full sweep found</div><div class="v">3</div><div class="k">2 written by it</div>`,
		`<div class="k">Pending (inside the settle delay, not missing)</div><div class="v">5</div>`,
		"the last full sweep by 2026-12-01 00:00:00 UTC", "As of 2026-11-20 00:00:00 UTC",
		`<tr><td>amount_mismatch</td><td class="n">1</td><td class="n">1</td><td class="n">0</td><td class="n">0</td><td>2026-11-10 (10d 0h)</td></tr>`,
		"--now",
		// coverage for the period: one of its four refund entries not matched yet
		`<div class="kpi warn"><div class="k">Coverage: refunds matched to their rule</div><div class="v">75.0%</div><div class="k">3 of 4 (13 of 18 Connects); 1 not matched yet</div></div>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	// A period that is over holds no figure of now: not the later sweep, not
	// the exceptions and their acknowledgements as they stand.
	for _, bad := range []string{"run-b", "wrong_account", "ana", "ticket"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page of a past period holds %q, a figure of now", bad)
		}
	}
	if refunds, discrepancies, runs := d.Counts(); refunds != 4 || discrepancies != 2 || runs != 1 {
		t.Errorf("counts: %d, %d, %d", refunds, discrepancies, runs)
	}

	// With now: the last sweep of all too, and the exceptions open as of it;
	// an acknowledgement from before an exception reopened is history, not
	// its acknowledgement.
	d, err = f.Report(context.Background(), november, true)
	if err != nil {
		t.Fatal(err)
	}
	var now bytes.Buffer
	if err := WriteReport(&now, d); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<code>run-a</code>", "<code>run-b</code>", "Exceptions open as of the sweep (3)",
		"<td>open</td><td>2026-11-02 00:00 UTC</td><td class=\"wrap\">no (before it reopened, bo: the job was reopened; ticket 9)</td>",
		"ana: ticket 7, the online path&#39;s rounding", "<td>wrong_account</td>"} {
		if !strings.Contains(now.String(), want) {
			t.Errorf("the page with --now lacks %q", want)
		}
	}
	if strings.Contains(now.String(), "bo: the job was reopened; ticket 9</td>") {
		t.Errorf("the page shows an acknowledgement of an earlier life as the exception's own")
	}

	// No full sweep on record yet: the page says so, and still parses.
	f.Store.(*memStore).sweeps = nil
	if d, err = f.Report(context.Background(), november, true); err != nil {
		t.Fatal(err)
	}
	var none bytes.Buffer
	if err := WriteReport(&none, d); err != nil {
		t.Fatal(err)
	}
	checkSelfContained(t, none.String())
	for _, want := range []string{"No full sweep was on record by the end of the period", "No full sweep was on record yet", "no full sweep on record"} {
		if !strings.Contains(none.String(), want) {
			t.Errorf("the page without a sweep lacks %q", want)
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
