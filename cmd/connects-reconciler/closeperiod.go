package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"go.uber.org/zap"

	"github.com/connects/connects-reconciler/cmd/connects-reconciler/internal/service"
	"github.com/connects/connects-reconciler/config"
	"github.com/connects/connects-reconciler/finance"
	"github.com/connects/connects-reconciler/reconcile"
)

func cmdClosePeriod(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newCommand("close-period", "Record a period as closed, with its refunds export's sha256, rows and Connects: exporting it again reproduces that file byte for byte or fails naming what changed.", stderr, config.GroupFinance)
	from := c.fs.String("from", "", "start of the period, inclusive: a date (2026-11-01, UTC midnight) or an RFC 3339 time")
	to := c.fs.String("to", "", "end of the period, exclusive: a date or an RFC 3339 time")
	by := c.fs.String("by", "", "who closes it (kept with the record)")
	if err := c.parse(ctx, args, getenv, stderr); err != nil {
		return err
	}
	var problems []string
	p, err := finance.ParsePeriod(*from, *to)
	if err != nil {
		problems = append(problems, err.Error())
	}
	if strings.TrimSpace(*by) == "" {
		problems = append(problems, "--by is required (who closes the period)")
	}
	if len(problems) > 0 {
		return usageError{"close-period: " + strings.Join(problems, "; ")}
	}
	service.LogConfig(c.log, c.cfg)
	store, closeStore, err := c.openStore(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	f := &finance.Finance{Store: store, Price: c.cfg.PricePerConnect}
	closed, err := f.ClosePeriod(ctx, p, *by)
	if err != nil {
		return fmt.Errorf("close-period: %w", err)
	}
	c.log.Info("period closed", zap.Time("from", closed.From), zap.Time("to", closed.To), zap.Int64("rows", closed.Rows),
		zap.Int64("connects", closed.Connects), zap.String("sha256", closed.SHA256))
	b, err := json.MarshalIndent(closed, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", b)
	return err
}

// warnLate logs the refund entries created later under a closed period p:
// they are not in its export (which is the closed one), but adjustments of
// the open period in which a run first matched them.
func warnLate(ctx context.Context, c *command, f *finance.Finance, p *finance.Period) {
	ps, ok := f.Store.(finance.PeriodStore)
	if !ok || p == nil {
		return
	}
	closed, err := ps.ClosedPeriod(ctx, p.From, p.To)
	if err != nil || closed == nil {
		return
	}
	changes, totals, err := ps.ClosedPeriodChanges(ctx, closed.ID)
	if err != nil || totals[reconcile.ChangeLate] == 0 {
		return
	}
	var entries []int64
	for _, ch := range changes {
		if ch.Change == reconcile.ChangeLate {
			entries = append(entries, ch.EntryID)
		}
	}
	c.log.Warn("refund entries were created under this closed period after it was closed: its export is the closed one without them; "+
		"they are adjustments of the open period in which a run matched them (column adjusts_period)",
		zap.Int64("late_entries", totals[reconcile.ChangeLate]), zap.Int64s("entry_ids", entries))
}
