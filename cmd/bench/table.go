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

// Targets of issue 9, each a ratio or a bound measured in one run.
const (
	maxFullRatio    = 1.0                    // full run / plain reference
	maxBacklogRatio = 2.0                    // backlog run / plain reference on the backlog
	maxIncrPercent  = 5.0                    // incremental after a day, online path up / full run
	maxNoopIncr     = 300 * time.Millisecond // a no-op incremental run
	maxExportRatio  = 2.0                    // export / COPY of the same rows (a month's report: maxReport)
	maxRSSKiB       = 64 * 1024              // peak RSS of the backlog run (and reported for every run)
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
	fmt.Fprintln(w, "| proposals | seed s | plain reference s | fragment reference s | full s | full / plain | full peak RSS MiB | full apply refunds/s | "+
		"no-op full s | incremental s, online 95% (% of full) | incremental s, online down (% of full) | incremental peak RSS MiB | no-op incremental s | "+
		"backlog refunds | backlog plain reference s | backlog s | backlog / plain | backlog peak RSS MiB | backlog apply refunds/s | "+
		"2 shards in parallel s | export s | COPY s | export / COPY | export peak RSS MiB | a month's report s | "+
		"full s, without → with replica | primary statements, without → with replica | primary xacts, without → with replica | "+
		"primary active s, without → with replica | primary rows read, without → with replica | primary blocks, without → with replica |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---|---:|---:|---:|---|---|---:|---|---:|---:|---:|---|---|---:|---:|---:|---:|---|---:|---|---|---|---|---|---|---|")
	for _, r := range rows {
		full := ratio(r.Full.Wall, r.Plain)
		backlog := ratio(r.Backlog.Wall, r.BacklogPlain)
		incr := [2]string{}
		for i, s := range r.Shapes {
			pct := 100 * ratio(s.Incremental.Wall, r.Full.Wall)
			incr[i] = fmt.Sprintf("%s (%.1f%%)", secs(s.Incremental.Wall), pct)
			if i == 0 {
				incr[i] += " " + verdict(pct <= maxIncrPercent)
			}
		}
		incrRSS := max(r.Shapes[0].Incremental.RSS, r.Shapes[1].Incremental.RSS)
		export := []string{"n/a (not built)", "n/a", "n/a", "n/a"}
		if r.Export != nil {
			export = []string{secs(r.Export.Wall), "n/a (no psql)", "n/a", mib(r.Export.RSS)}
			if r.Copy > 0 {
				x := ratio(r.Export.Wall, r.Copy)
				export[1], export[2] = secs(r.Copy), fmt.Sprintf("%.2f %s", x, verdict(x <= maxExportRatio))
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %.2f %s | %s | %s | %s | %s | %s | %s | %s %s | %d | %s | %s | %.2f %s | %s %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			human(r.Size), secs(r.Seed), secs(r.Plain), secs(r.Fragment), secs(r.Full.Wall),
			full, verdict(full <= maxFullRatio), mib(r.Full.RSS), applyRate(r.FullWrote, r.Full.Wall, r.NoopFull.Wall),
			secs(r.NoopFull.Wall), incr[0], incr[1], mib(incrRSS),
			secs(r.NoopIncr.Wall), verdict(r.NoopIncr.Wall <= maxNoopIncr),
			r.BacklogMissing, secs(r.BacklogPlain), secs(r.Backlog.Wall), backlog, verdict(backlog <= maxBacklogRatio),
			mib(r.Backlog.RSS), verdict(r.Backlog.RSS <= maxRSSKiB),
			applyRate(int64(len(r.Backlog.Report.Refunds)), r.Backlog.Wall, r.NoopFull.Wall),
			secs(r.Shards.Wall), export[0], export[1], export[2], export[3], reportCell(r), strings.Join(replicaCells(r.Replica), " | "))
	}
	fmt.Fprintln(w)
	for _, r := range rows {
		peak := max(r.Full.RSS, r.NoopFull.RSS, r.NoopIncr.RSS, r.Shards.RSS, r.Backlog.RSS, r.Replica.Without.RSS, r.Replica.With.RSS)
		for _, s := range r.Shapes {
			peak = max(peak, s.DryRun.RSS, s.Incremental.RSS)
		}
		if r.Export != nil {
			peak = max(peak, r.Export.RSS)
		}
		if r.Report != nil {
			peak = max(peak, r.Report.RSS)
		}
		fmt.Fprintf(w, "- %s: seed left %d of %d owed refunds missing; plain reference wrote %d, fragment reference the same refunds: %s; "+
			"full run %d (same refunds as the plain reference: %s); shards' refunds the same: %s; "+
			"backlog: %d missing, the job's run the same refunds as the plain reference: %s; largest peak RSS of any run %s MiB.\n",
			human(r.Size), r.Missing, r.Owed, r.PlainWrote, yes(r.FragmentSame), r.FullWrote, yes(r.Same), yes(r.ShardsSame),
			r.BacklogMissing, yes(r.BacklogSame), mib(peak))
		for _, s := range append(r.Shapes[:], r.OpenDay) {
			if s.Name == "" {
				continue // not measured (BENCH_STEPS)
			}
			a := s.Activity
			fmt.Fprintf(w, "- %s, day (%s): %d new proposals, %d closures of jobs posted over the last 100 days, %d auction ends, "+
				"%d late interactions, %d proposals touched, %d refunds owed, %d missing; incremental wrote %d (same as a full plan: %s).\n",
				human(r.Size), s.Name, a.NewProposals, a.Closures, a.AuctionEnds, a.LateInteractions, a.Touched,
				a.RefundsOwed, a.MissingRefunds, s.Wrote, yes(s.Same))
		}
		if rc := r.Replica; rc.NotMeasured != "" {
			fmt.Fprintf(w, "- %s, replica case: not measured: %s.\n", human(r.Size), rc.NotMeasured)
		} else if rc.With.Wall > 0 {
			fmt.Fprintf(w, "- %s, replica case: both full runs wrote the plain reference's refunds: %s (%d each); planned on %s and on %s; "+
				"standby set up in %s s (pg_basebackup copied %s MiB), the case took %s s in all; sessions on the primary %d → %d; "+
				"statements on the replica %s.\n",
				human(r.Size), yes(rc.Same), len(rc.With.Report.Refunds), rc.Without.PlannedOn, rc.With.PlannedOn,
				secs(rc.Setup), mib(rc.Copied>>10), secs(rc.Total), rc.Without.Primary.Sessions, rc.With.Primary.Sessions,
				counted(rc.With.Counted, rc.With.ReplicaStatements))
		}
		if r.Export != nil {
			fmt.Fprintf(w, "- %s: export of %d refund rows (%s rows/s), COPY of %d.\n", human(r.Size), r.ExportRows,
				perSecond(r.ExportRows, r.Export.Wall), r.CopyRows)
		}
	}
	if len(rows) >= 2 {
		a, z := rows[0], rows[len(rows)-1]
		fmt.Fprintf(w, "- growth %s → %s (proposals ×%.1f): plain reference ×%.1f, full ×%.1f, no-op full ×%.1f, backlog ×%.1f; "+
			"a day's touched proposals ×%.1f, incremental ×%.1f, no-op incremental ×%.1f.\n",
			human(a.Size), human(z.Size), float64(z.Size)/float64(a.Size),
			ratio(z.Plain, a.Plain), ratio(z.Full.Wall, a.Full.Wall), ratio(z.NoopFull.Wall, a.NoopFull.Wall),
			ratio(z.Backlog.Wall, a.Backlog.Wall),
			float64(z.Shapes[0].Activity.Touched)/float64(max(a.Shapes[0].Activity.Touched, 1)),
			ratio(z.Shapes[0].Incremental.Wall, a.Shapes[0].Incremental.Wall), ratio(z.NoopIncr.Wall, a.NoopIncr.Wall))
	}
	for _, r := range rows {
		for _, f := range r.failures {
			fmt.Fprintf(w, "- FAILED: %v\n", f)
		}
	}
}

// replicaCells are the replica case's columns: each "without → with".
func replicaCells(rc replicaCase) []string {
	if rc.Without.Wall == 0 {
		return []string{"n/a", "n/a", "n/a", "n/a", "n/a", "n/a"}
	}
	a, z := rc.Without, rc.With
	arrow := func(x, y string) string { return x + " → " + y }
	if rc.NotMeasured != "" || z.Wall == 0 {
		arrow = func(x, _ string) string { return x + " → n/a" }
	}
	return []string{
		arrow(secs(a.Wall), secs(z.Wall)),
		arrow(counted(a.Counted, a.Statements), counted(z.Counted, z.Statements)),
		arrow(fmt.Sprint(a.Primary.Xacts), fmt.Sprint(z.Primary.Xacts)),
		arrow(fmt.Sprintf("%.2f", a.Primary.ActiveMS/1000), fmt.Sprintf("%.2f", z.Primary.ActiveMS/1000)),
		arrow(fmt.Sprint(a.Primary.Rows), fmt.Sprint(z.Primary.Rows)),
		arrow(fmt.Sprint(a.Primary.Blocks), fmt.Sprint(z.Primary.Blocks)),
	}
}

func counted(ok bool, n int64) string {
	if !ok {
		return "n/a"
	}
	return fmt.Sprint(n)
}

// applyRate estimates a run's apply throughput: the refunds it wrote over
// its time beyond the no-op full run of the same marketplace (the planning
// alone, which reads what a full run reads and writes nothing).
func applyRate(refunds int64, run, noop time.Duration) string {
	if refunds == 0 || run <= noop {
		return "n/a"
	}
	return perSecond(refunds, run-noop)
}

func perSecond(n int64, d time.Duration) string {
	if d <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f", float64(n)/d.Seconds())
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
