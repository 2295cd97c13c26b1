package main

import (
	"context"
	"io"
	"time"

	"go.uber.org/zap"

	"github.com/connects/connects-reconciler/finance"
	"github.com/connects/connects-reconciler/internal/atomicfile"
)

func cmdReport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, from, to := financeCommand("report", "Write one self-contained HTML page for finance: refunds per day by rule, totals that tie to the export, the last full sweep's discrepancies and missing refunds, and the runs of a period.", stderr)
	out := c.fs.String("out", "", "the HTML file to write (default stdout)")
	now := c.fs.Bool("now", false, "a period that is over: add the last full sweep of all and the exceptions it left open, as they stand (figures that change with later runs; without it the page of a past period is the same whenever it is made)")
	if err := c.parse(ctx, args, getenv, stderr); err != nil {
		return err
	}
	p, err := finance.ParsePeriod(*from, *to)
	if err != nil {
		return usageError{"report: " + err.Error()}
	}
	if *out != "" {
		if err := atomicfile.Check(*out); err != nil {
			return usageError{"report: --out " + err.Error()}
		}
	}
	start := time.Now()
	f, closeStore, err := c.openFinance(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	data, err := f.Report(ctx, p, *now)
	if err != nil {
		return err
	}
	if *out == "" {
		err = finance.WriteReport(stdout, data)
	} else {
		err = finance.WriteReportFile(*out, data)
	}
	if err != nil {
		return err
	}
	refunds, discrepancies, runs := data.Counts()
	c.log.Info("report written", zap.String("out", *out), zap.Int64("refunds", refunds),
		zap.Int("discrepancies", discrepancies), zap.Int("runs", runs), zap.Duration("took", time.Since(start)))
	return nil
}
