package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/connects/connects-reconciler/reconcile"
)

// report is what run prints on stdout: the plan, and after an applying run
// what it wrote.
type report struct {
	DryRun  bool
	RunID   string
	Status  string
	Plan    *reconcile.Plan
	Issued  []reconcile.Refund
	Skipped []reconcile.Refund
	Refused string
}

// jsonReport is the fixed JSON shape: refunds, discrepancies, totals. For a
// dry run "refunds" are the planned ones; for a run, the ones written.
type jsonReport struct {
	DryRun        bool                    `json:"dry_run"`
	RunID         string                  `json:"run_id,omitempty"`
	Status        string                  `json:"status,omitempty"`
	AsOf          time.Time               `json:"as_of"`
	SettleCutoff  time.Time               `json:"settle_cutoff"`
	Refused       string                  `json:"refused,omitempty"`
	NotChecked    string                  `json:"not_checked,omitempty"`
	Refunds       []reconcile.Refund      `json:"refunds"`
	Skipped       []reconcile.Refund      `json:"skipped,omitempty"`
	Discrepancies []reconcile.Discrepancy `json:"discrepancies"`
	Totals        reconcile.Totals        `json:"totals"`
	Planned       *reconcile.Totals       `json:"planned,omitempty"`
	Policy        reconcile.Policy        `json:"policy"`
}

func (r report) refunds() []reconcile.Refund {
	if r.DryRun {
		return r.Plan.Refunds
	}
	return r.Issued
}

func writeReport(w io.Writer, format string, r report) error {
	refunds := r.refunds()
	totals := reconcile.Sum(refunds, r.Plan.Discrepancies)
	totals.Pending = r.Plan.Pending
	if format == "json" {
		out := jsonReport{DryRun: r.DryRun, RunID: r.RunID, Status: r.Status, AsOf: r.Plan.AsOf,
			SettleCutoff: r.Plan.SettleCutoff, Refused: r.Refused, NotChecked: notChecked(r.Plan), Refunds: nonNil(refunds),
			Skipped: r.Skipped, Discrepancies: nonNil(r.Plan.Discrepancies), Totals: totals, Policy: r.Plan.Policy}
		if !r.DryRun {
			planned := r.Plan.Totals()
			out.Planned = &planned
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	return writeTable(w, r, refunds, totals)
}

// notChecked says what an incremental run did not look at: it plans only
// what changed since the last successful run, up to the settle cutoff, so it
// sees neither the refunds inside the settle delay nor the discrepancies
// among what did not change. "" for a full sweep.
func notChecked(p *reconcile.Plan) string {
	if p == nil || p.Scope != "incremental" {
		return ""
	}
	return "incremental run; the daily full sweep reports discrepancies and refunds inside the settle delay"
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func writeTable(w io.Writer, r report, refunds []reconcile.Refund, totals reconcile.Totals) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := r.Plan
	if r.DryRun {
		fmt.Fprintf(tw, "DRY RUN: nothing written. Plan as of %s; events before %s are reconciled.\n",
			p.AsOf.Format(time.RFC3339), p.SettleCutoff.Format(time.RFC3339))
	} else {
		fmt.Fprintf(tw, "RUN %s: %s. Plan as of %s; events before %s reconciled.\n",
			r.RunID, r.Status, p.AsOf.Format(time.RFC3339), p.SettleCutoff.Format(time.RFC3339))
	}
	if r.Refused != "" {
		fmt.Fprintf(tw, "REFUSED: %s\n", r.Refused)
	}
	title := "REFUNDS TO WRITE"
	if !r.DryRun {
		title = "REFUNDS WRITTEN"
	}
	fmt.Fprintf(tw, "\n%s (%d)\n", title, len(refunds))
	if len(refunds) > 0 {
		fmt.Fprintln(tw, "PROPOSAL\tFREELANCER\tJOB\tCOMPONENT\tCONNECTS\tRULE\t")
		for _, f := range refunds {
			fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t%d\t%s\t\n", f.ProposalID, f.FreelancerID, f.JobID, f.Component, f.Connects, f.Rule)
		}
	}
	if len(r.Skipped) > 0 {
		fmt.Fprintf(tw, "\nPLANNED BUT NO LONGER OWED WHEN WRITTEN (%d)\n", len(r.Skipped))
		fmt.Fprintln(tw, "PROPOSAL\tCOMPONENT\tCONNECTS\tRULE\t")
		for _, f := range r.Skipped {
			fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t\n", f.ProposalID, f.Component, f.Connects, f.Rule)
		}
	}
	if notChecked(p) != "" {
		fmt.Fprintf(tw, "\nDISCREPANCIES FOR A PERSON TO DECIDE, AMONG WHAT CHANGED (%d)\n", len(p.Discrepancies))
	} else {
		fmt.Fprintf(tw, "\nDISCREPANCIES FOR A PERSON TO DECIDE (%d)\n", len(p.Discrepancies))
	}
	if len(p.Discrepancies) > 0 {
		fmt.Fprintln(tw, "PROPOSAL\tCOMPONENT\tKIND\tFREELANCER\tJOB\tRULE\tCHARGED\tREFUNDED\t")
		for _, d := range p.Discrepancies {
			rule := string(d.Rule)
			if rule == "" {
				rule = "-"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%s\t%d\t%d\t\n", d.ProposalID, d.Component, d.Kind, d.FreelancerID, d.JobID, rule, d.Charged, d.Refunded)
		}
	}
	fmt.Fprintf(tw, "\nTOTALS\nRULE\tCOMPONENT\tREFUNDS\tCONNECTS\t\n")
	for _, rule := range reconcile.Rules {
		for _, comp := range []reconcile.Component{reconcile.Base, reconcile.Boost} {
			var a reconcile.Amount
			for _, f := range refunds {
				if f.Rule == rule && f.Component == comp {
					a.Refunds++
					a.Connects += f.Connects
				}
			}
			if a.Refunds > 0 {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t\n", rule, comp, a.Refunds, a.Connects)
			}
		}
	}
	fmt.Fprintf(tw, "all\t\t%d\t%d\t\n", totals.Refunds, totals.Connects)
	if nc := notChecked(p); nc != "" {
		fmt.Fprintf(tw, "\ndiscrepancies among what changed: %d; not checked: %s\n", totals.Discrepancies, nc)
	} else {
		fmt.Fprintf(tw, "\nowed but inside the settle delay: %d; discrepancies: %d\n", totals.Pending, totals.Discrepancies)
	}
	return tw.Flush()
}
