package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"time"
)

// maxReport is the target of issue 18: a month's report reads the last full
// sweep's record and the month's refunds, never the whole marketplace.
const maxReport = 2 * time.Second

// report times the finance report of the last 30 days (a period still
// running: the last sweep's record and the exceptions it left open are on
// the page too) on a marketplace that had its full runs, when the binary has
// the command.
func (b *bench) report(ctx context.Context, dbURL string, r *row) error {
	help, _ := exec.CommandContext(ctx, b.bin, "report", "-h").CombinedOutput()
	if bytes.Contains(help, []byte(`unknown command "report"`)) {
		b.progress("%s: report: not built", human(r.Size))
		return nil
	}
	to := time.Now().UTC().Add(time.Hour).Truncate(time.Second)
	from := to.AddDate(0, 0, -30)
	p, err := b.exec(ctx, dbURL, "report", "report", "--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339),
		"--out", filepath.Join(b.tmp, "report.html"))
	if err != nil {
		return err
	}
	r.Report = &p
	b.progress("%s: a month's report in %s, peak RSS %s MiB", human(r.Size), secs(p.Wall), mib(p.RSS))
	return nil
}

// reportCell is the report's column: its time against the target.
func reportCell(r *row) string {
	if r.Report == nil {
		return "n/a"
	}
	return secs(r.Report.Wall) + " " + verdict(r.Report.Wall <= maxReport)
}
