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
	proposal := c.fs.Int64("proposal", 0, "the proposal to explain (with --freelancer: checked to be that freelancer's)")
	freelancer := c.fs.Int64("freelancer", 0, "explain this freelancer's most recent proposals")
	limit := c.fs.Int("limit", 20, "with --freelancer: how many of the most recent proposals")
	format := c.fs.String("format", "text", "text (for a person) or json")
	if err := c.parse(ctx, args, getenv, stderr); err != nil {
		return err
	}
	switch {
	case *proposal == 0 && *freelancer == 0:
		return usageError{"explain: give --proposal ID, --freelancer ID, or both (the proposal, checked to be the freelancer's)"}
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
	if *proposal == 0 {
		if ids, err = store.FreelancerProposals(ctx, *freelancer, *limit); err != nil {
			return err
		}
		if len(ids) == 0 {
			return notFound{fmt.Sprintf("explain: freelancer %d has no proposals", *freelancer)}
		}
	}
	out, err := reconcile.ExplainProposals(ctx, store, c.cfg.Policy, ids)
	if err != nil {
		return err
	}
	if *proposal != 0 {
		if len(out.Proposals) == 0 {
			return notFound{fmt.Sprintf("explain: there is no proposal %d", *proposal)}
		}
		if x := out.Proposals[0]; *freelancer != 0 && !x.Exists {
			return notFound{fmt.Sprintf("explain: there is no proposal %d (ledger entries carry its id: explain it without --freelancer)", *proposal)}
		}
		if by := out.Proposals[0].FreelancerID; *freelancer != 0 && by != *freelancer {
			return notFound{fmt.Sprintf("explain: proposal %d is freelancer %d's, not freelancer %d's", *proposal, by, *freelancer)}
		}
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
	if *proposal == 0 {
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

// notFound is a question about something the database does not hold: an
// unknown proposal, a freelancer without proposals. No retry helps: exit 2,
// whichever was asked about.
type notFound struct{ msg string }

func (e notFound) Error() string { return e.msg }
