package main

import (
	"context"
	"io"

	"github.com/connects/connects-reconciler/cmd/connects-reconciler/internal/service"
	"github.com/connects/connects-reconciler/config"
)

func cmdSchedule(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newCommand("schedule", "Run on the configured schedule until SIGTERM or SIGINT; serve /healthz, /readyz and /metrics.", stderr,
		config.GroupPolicy, config.GroupLimits, config.GroupRun, config.GroupSchedule)
	if err := c.parse(ctx, args, getenv, stderr); err != nil {
		return err
	}
	service.LogConfig(c.log, c.cfg)
	defer c.closeReplica()
	return service.Schedule(ctx, service.Options{Config: c.cfg, Open: c.openReading, Store: c.newStore, Log: c.log})
}
