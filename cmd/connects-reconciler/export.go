package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/connects/connects-reconciler/cmd/connects-reconciler/internal/service"
	"github.com/connects/connects-reconciler/config"
	"github.com/connects/connects-reconciler/finance"
	"github.com/connects/connects-reconciler/internal/atomicfile"
)

func cmdExport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, from, to := financeCommand("export", "Export refund entries for finance: every refund in a period (CSV or JSON), a summary, or the discrepancies the last full sweep recorded.", stderr)
	var kinds []string
	for _, s := range finance.Specs {
		kinds = append(kinds, fmt.Sprintf("%s (%s)", s.Kind, s.Doc))
	}
	kind := c.fs.String("kind", string(finance.Specs[0].Kind), strings.Join(kinds, ", "))
	format := c.fs.String("format", finance.FormatCSV, "csv (RFC 4180, header row) or json")
	out := c.fs.String("out", "", "write FILE, FILE.sha256 and FILE.manifest.json instead of stdout")
	bom := c.fs.Bool("bom", false, "begin a CSV with a UTF-8 byte order mark, so Excel reads accented names right")
	if err := c.parse(ctx, args, getenv, stderr); err != nil {
		return err
	}
	var problems []string
	if *format != finance.FormatCSV && *format != finance.FormatJSON {
		problems = append(problems, fmt.Sprintf("--format must be csv or json, got %q", *format))
	}
	if *bom && *format != finance.FormatCSV {
		problems = append(problems, "--bom is for --format csv only (JSON is always UTF-8 without one)")
	}
	spec, ok := finance.Lookup(*kind)
	var period *finance.Period
	switch {
	case !ok:
		problems = append(problems, fmt.Sprintf("--kind must be %s, got %q", finance.KindNames(), *kind))
	case spec.Period:
		p, err := finance.ParsePeriod(*from, *to)
		if err != nil {
			problems = append(problems, err.Error())
		}
		period = &p
	case *from != "" || *to != "":
		problems = append(problems, fmt.Sprintf("--kind %s is the last full sweep's record and takes no --from/--to", spec.Kind))
	}
	if *out != "" {
		if err := atomicfile.Check(*out); err != nil {
			problems = append(problems, "--out "+err.Error())
		}
	}
	if len(problems) > 0 {
		return usageError{"export: " + strings.Join(problems, "; ")}
	}

	start := time.Now()
	f, closeStore, err := c.openFinance(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	f.BOM = *bom
	var m *finance.Manifest
	if *out == "" {
		bw := bufio.NewWriterSize(stdout, 1<<16)
		if m, err = f.Export(ctx, spec, period, *format, bw); err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("export: write: %w", err)
		}
	} else if m, err = f.ExportFile(ctx, spec, period, *format, *out); err != nil {
		return err
	}
	if spec.Period {
		warnLate(ctx, c, f, period)
	}
	c.log.Info("exported", zap.String("kind", *kind), zap.String("format", *format), zap.String("out", *out),
		zap.Int64("rows", m.Rows), zap.Time("as_of", m.GeneratedAt), zap.Duration("took", time.Since(start)))
	return nil
}

// financeCommand makes the command of a finance output: the settings it
// reads, and the period's flags.
func financeCommand(name, summary string, stderr io.Writer) (c *command, from, to *string) {
	c = newCommand(name, summary, stderr, config.GroupPolicy, config.GroupFinance)
	from = c.fs.String("from", "", "start of the period, inclusive: a date (2026-11-01, UTC midnight) or an RFC 3339 time")
	to = c.fs.String("to", "", "end of the period, exclusive: a date or an RFC 3339 time")
	return c, from, to
}

// openFinance logs the configuration, opens the store and wires finance to
// it. Nothing in finance plans the marketplace: the discrepancies are the
// last full sweep's record. close releases the store.
func (c *command) openFinance(ctx context.Context) (f *finance.Finance, close func(), err error) {
	service.LogConfig(c.log, c.cfg)
	store, close, err := c.openStore(ctx)
	if err != nil {
		return nil, nil, err
	}
	return &finance.Finance{Store: store, Policy: c.cfg.Policy, Price: c.cfg.PricePerConnect, Progress: c.progress(c.log)}, close, nil
}
