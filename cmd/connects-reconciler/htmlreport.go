package main

import (
	"context"
	"io"
	"time"

	"go.uber.org/zap"

	"github.com/connects/connects-reconciler/config"
	"github.com/connects/connects-reconciler/finance"
	"github.com/connects/connects-reconciler/reconcile/service"
)

func cmdReport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newCommand("report", "Write one self-contained HTML page for finance: refunds per day by rule, totals that tie to the export, discrepancies, missing refunds, and the runs of a period.", stderr,
		config.GroupPolicy, config.GroupRun, config.GroupFinance)
	from := c.fs.String("from", "", "start of the period, inclusive: a date (2026-11-01, UTC midnight) or an RFC 3339 time")
	to := c.fs.String("to", "", "end of the period, exclusive: a date or an RFC 3339 time")
	out := c.fs.String("out", "", "the HTML file to write (default stdout)")
	if err := c.parse(args, getenv, stderr); err != nil {
		return err
	}
	p, err := finance.ParsePeriod(*from, *to)
	if err != nil {
		return usageError{"report: " + err.Error()}
	}
	start := time.Now()
	service.LogConfig(c.log, c.cfg)
	store, closeStore, err := c.openStore(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	data, err := newFinance(c, store).Report(ctx, p)
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
