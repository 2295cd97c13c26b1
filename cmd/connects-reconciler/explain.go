package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/connects/connects-reconciler/config"
	"github.com/connects/connects-reconciler/reconcile"
)

func cmdExplain(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newCommand("explain", "Say, for each component of a proposal, what was charged, what the policy says and why, and what the ledger holds.", stderr,
		config.GroupPolicy)
	proposal := c.fs.Int64("proposal", 0, "the proposal to explain")
	freelancer := c.fs.Int64("freelancer", 0, "explain this freelancer's most recent proposals instead")
	limit := c.fs.Int("limit", 20, "with --freelancer: how many of the most recent proposals")
	format := c.fs.String("format", "text", "text (for a person) or json")
	if err := c.parse(args, getenv, stderr); err != nil {
		return err
	}
	switch {
	case (*proposal == 0) == (*freelancer == 0):
		return usageError{"explain: give --proposal ID or --freelancer ID"}
	case *proposal < 0 || *freelancer < 0:
		return usageError{"explain: ids are positive"}
	case *limit < 1 || *limit > 10000:
		return usageError{fmt.Sprintf("explain: --limit must be from 1 to 10000, got %d", *limit)}
	case *format != "text" && *format != "json":
		return usageError{fmt.Sprintf("explain: --format must be text or json, got %q", *format)}
	}
	store, closeStore, err := c.openStore(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	ids := []int64{*proposal}
	if *freelancer != 0 {
		if ids, err = store.FreelancerProposals(ctx, *freelancer, *limit); err != nil {
			return err
		}
	}
	out, err := reconcile.ExplainProposals(ctx, store, c.cfg.Policy, ids)
	if err != nil {
		return err
	}
	if *proposal != 0 && len(out.Proposals) == 0 {
		return fmt.Errorf("explain: there is no proposal %d", *proposal)
	}
	w := bufio.NewWriter(stdout)
	if *format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
		return w.Flush()
	}
	if *freelancer != 0 {
		more := ""
		if len(ids) == *limit {
			more = fmt.Sprintf(" (the most recent %d; --limit shows more)", *limit)
		}
		out.Heading = fmt.Sprintf("Freelancer %d: %d proposals%s.", *freelancer, len(out.Proposals), more)
	}
	if err := out.WriteText(w); err != nil {
		return err
	}
	return w.Flush()
}
