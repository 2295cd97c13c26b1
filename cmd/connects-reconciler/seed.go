package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/connects/connects-reconciler/synth"
)

func cmdSeed(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newCommand("seed", "Fill the contract's tables with a synthetic marketplace (deterministic for a --seed and --anchor).", stderr)
	seed := c.fs.Int64("seed", 1, "pseudo-random seed")
	proposals := c.fs.Int64("proposals", 20000, "number of proposals")
	missing := c.fs.Int("missing-percent", 5, "percent of owed refunds the online path did not write")
	anchor := c.fs.String("anchor", "", "RFC 3339 time the marketplace ends at (default: now)")
	force := c.fs.Bool("force", false, "empty the contract's and the job's tables first")
	if err := c.parse(ctx, args, getenv, stderr); err != nil {
		return err
	}
	var problems []string
	if *proposals < 1 {
		problems = append(problems, fmt.Sprintf("--proposals must be at least 1, got %d", *proposals))
	}
	if *missing < 0 || *missing > 100 {
		problems = append(problems, fmt.Sprintf("--missing-percent must be from 0 to 100, got %d", *missing))
	}
	at := time.Now().UTC().Truncate(time.Minute)
	if *anchor != "" {
		t, err := time.Parse(time.RFC3339, *anchor)
		if err != nil {
			problems = append(problems, fmt.Sprintf("--anchor must be an RFC 3339 time, got %q", *anchor))
		}
		at = t.UTC()
	}
	if len(problems) > 0 {
		return usageError{"seed: " + strings.Join(problems, "; ")}
	}
	db, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	stats, err := synth.Seed(ctx, db, synth.SeedOptions{
		Seed: *seed, Proposals: *proposals, Anchor: at, MissingPercent: *missing, Force: *force,
	}, c.log)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(stats)
}
