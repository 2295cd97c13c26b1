package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// Targets of the issue, each a ratio or a bound measured in one run.
const (
	maxFullRatio   = 1.25             // full run / reference
	maxIncrPercent = 5.0              // incremental after a day / full run, at 5M
	maxNoopIncr    = time.Second      // a no-op incremental run
	maxRSSKiB      = 64 * 1024        // peak RSS of any run
	incrTargetSize = int64(5_000_000) // the size the incremental target is set at
)

// machine is what the numbers were measured on.
type machine struct {
	CPUs     int
	CPU      string
	MemoryGB float64
	Go       string
	Postgres string
	Settings []string
}

func (m machine) String() string {
	return fmt.Sprintf("%d × %s, %.0f GiB memory; %s; PostgreSQL %s (%s)",
		m.CPUs, m.CPU, m.MemoryGB, m.Go, m.Postgres, strings.Join(m.Settings, ", "))
}

func describeMachine(ctx context.Context, admin *sqlx.DB) machine {
	m := machine{CPUs: runtime.NumCPU(), CPU: "unknown CPU", Go: runtime.Version()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var kb float64
			if _, err := fmt.Sscanf(sc.Text(), "MemTotal: %f kB", &kb); err == nil {
				m.MemoryGB = kb / 1024 / 1024
				break
			}
		}
		f.Close()
	}
	_ = admin.GetContext(ctx, &m.Postgres, "SHOW server_version")
	for _, s := range []string{"shared_buffers", "work_mem", "effective_cache_size", "max_parallel_workers_per_gather", "random_page_cost", "jit", "synchronous_commit"} {
		var v string
		if err := admin.GetContext(ctx, &v, "SELECT current_setting($1)", s); err == nil {
			m.Settings = append(m.Settings, s+"="+v)
		}
	}
	return m
}

// writeTable prints the results as one Markdown table, with the targets'
// verdicts in the cells they concern, and the checks below it.
func writeTable(w io.Writer, m machine, rows []*row) {
	fmt.Fprintf(w, "\nMachine: %s\n\n", m)
	fmt.Fprintln(w, "| proposals | seed s | reference s | full s | full / reference | full peak RSS MiB | no-op full s | incremental s (day) | incremental / full | no-op incremental s | 2 shards in parallel s (1: full s) | export s | export rows/s | export peak RSS MiB |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---|---|---:|---:|---|---|---:|---:|---:|---|")
	for _, r := range rows {
		full := ratio(r.Full.Wall, r.Reference)
		incr := 100 * ratio(r.Incremental.Wall, r.Full.Wall)
		incrVerdict := verdict(incr <= maxIncrPercent)
		if r.Size != incrTargetSize {
			incrVerdict = "(" + incrVerdict + " at 5M)"
		}
		export := []string{"n/a (export not built)", "n/a", "n/a"}
		if r.Export != nil {
			export = []string{secs(r.Export.Wall), fmt.Sprintf("%.0f", float64(r.ExportRows)/r.Export.Wall.Seconds()),
				mib(r.Export.RSS) + " " + verdict(r.Export.RSS <= maxRSSKiB)}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %.2f %s | %s %s | %s | %s | %.1f%% %s | %s %s | %s (%s) | %s | %s | %s |\n",
			human(r.Size), secs(r.Seed), secs(r.Reference), secs(r.Full.Wall),
			full, verdict(full <= maxFullRatio),
			mib(r.Full.RSS), verdict(r.Full.RSS <= maxRSSKiB),
			secs(r.NoopFull.Wall), secs(r.Incremental.Wall), incr, incrVerdict,
			secs(r.NoopIncr.Wall), verdict(r.NoopIncr.Wall <= maxNoopIncr),
			secs(r.Shards.Wall), secs(r.Full.Wall), export[0], export[1], export[2])
	}
	fmt.Fprintln(w)
	for _, r := range rows {
		peak := max(r.Full.RSS, r.NoopFull.RSS, r.DryRun.RSS, r.Incremental.RSS, r.NoopIncr.RSS, r.Shards.RSS)
		if r.Export != nil {
			peak = max(peak, r.Export.RSS)
		}
		fmt.Fprintf(w, "- %s: seed left %d of %d owed refunds missing; reference wrote %d, full run %d (same refunds: %s); "+
			"a day of activity: %d new proposals, %d closures, %d auction ends, %d refunds owed, %d missing; "+
			"incremental wrote %d (same as a full plan: %s); shards' refunds same as the reference: %s; "+
			"largest peak RSS of any run %s MiB %s.\n",
			human(r.Size), r.Missing, r.Owed, r.ReferenceWrote, r.FullWrote, yes(r.Same),
			r.Activity.NewProposals, r.Activity.Closures, r.Activity.AuctionEnds, r.Activity.RefundsOwed, r.Activity.MissingRefunds,
			r.IncrWrote, yes(r.IncrSame), yes(r.ShardsSame), mib(peak), verdict(peak <= maxRSSKiB))
	}
	if len(rows) >= 2 {
		a, z := rows[0], rows[len(rows)-1]
		fmt.Fprintf(w, "- growth %s → %s (proposals ×%.1f): reference ×%.1f, full ×%.1f, no-op full ×%.1f; "+
			"a day's activity ×%.1f, incremental ×%.1f, no-op incremental ×%.1f.\n",
			human(a.Size), human(z.Size), float64(z.Size)/float64(a.Size),
			ratio(z.Reference, a.Reference), ratio(z.Full.Wall, a.Full.Wall), ratio(z.NoopFull.Wall, a.NoopFull.Wall),
			float64(z.Activity.Touched)/float64(max(a.Activity.Touched, 1)),
			ratio(z.Incremental.Wall, a.Incremental.Wall), ratio(z.NoopIncr.Wall, a.NoopIncr.Wall))
	}
	for _, r := range rows {
		for _, f := range r.failures {
			fmt.Fprintf(w, "- FAILED: %v\n", f)
		}
	}
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

// ratio is a / b, 0 when b is not positive.
func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func secs(d time.Duration) string {
	if d < 10*time.Second {
		return fmt.Sprintf("%.2f", d.Seconds())
	}
	return fmt.Sprintf("%.1f", d.Seconds())
}

func mib(kib int64) string { return fmt.Sprintf("%.1f", float64(kib)/1024) }

// human writes a size as 100k, 1M, 5M.
func human(n int64) string {
	switch {
	case n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}
