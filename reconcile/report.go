package reconcile

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Report is what a run prints on stdout: the plan, and after an applying run
// what it wrote. Both formats (table, json) stream from the plan's and the
// result's spools, so a report of any size costs flat memory.
type Report struct {
	// DryRun reports the plan's refunds as to write; else Result's as written.
	DryRun bool
	Plan   *Plan
	Result *Result // nil for a dry run
	// Refused is the safety limit's refusal, if any.
	Refused string
}

// refunds streams the report's refunds: planned for a dry run, written for a run.
func (r Report) refunds(fn func(Refund) error) error {
	if r.DryRun {
		return r.Plan.EachRefund(fn)
	}
	return r.Result.EachIssued(fn)
}

func (r Report) skipped(fn func(Refund) error) error {
	if r.Result == nil {
		return nil
	}
	return r.Result.EachSkipped(fn)
}

func (r Report) totals() Totals {
	if r.DryRun {
		return r.Plan.Totals()
	}
	return r.Result.Issued()
}

// Write writes the report in format "table" or "json".
func (r Report) Write(w io.Writer, format string) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var err error
	if format == "json" {
		err = writeJSON(bw, r)
	} else {
		err = writeTable(bw, r)
	}
	if err != nil {
		return err
	}
	return bw.Flush()
}

// writeJSON writes the fixed JSON shape (refunds, skipped, discrepancies,
// totals, policy) as encoding/json's two-space indented output would, one
// element at a time. For a dry run "refunds" are the planned ones; for a
// run, the ones written.
func writeJSON(w *bufio.Writer, r Report) error {
	first := true
	field := func(name string, v any) error {
		b, err := json.MarshalIndent(v, "  ", "  ")
		if err != nil {
			return fmt.Errorf("encode report %s: %w", name, err)
		}
		if !first {
			w.WriteString(",\n")
		}
		first = false
		w.WriteString(`  "` + name + `": `)
		_, err = w.Write(b)
		return err
	}
	list := func(name string, each func(func(any) error) error) error {
		if !first {
			w.WriteString(",\n")
		}
		first = false
		w.WriteString(`  "` + name + `": [`)
		n := 0
		err := each(func(v any) error {
			b, err := json.MarshalIndent(v, "    ", "  ")
			if err != nil {
				return fmt.Errorf("encode report %s: %w", name, err)
			}
			if n > 0 {
				w.WriteByte(',')
			}
			n++
			w.WriteString("\n    ")
			_, err = w.Write(b)
			return err
		})
		if n > 0 {
			w.WriteString("\n  ")
		}
		w.WriteByte(']')
		return err
	}
	refunds := func(each func(func(Refund) error) error) func(func(any) error) error {
		return func(fn func(any) error) error {
			return each(func(rf Refund) error { return fn(rf.wire()) })
		}
	}
	w.WriteString("{\n")
	p := r.Plan
	if err := field("dry_run", r.DryRun); err != nil {
		return err
	}
	if r.Result != nil {
		if err := field("run_id", r.Result.RunID); err != nil {
			return err
		}
		if err := field("status", r.Result.Status); err != nil {
			return err
		}
	}
	if err := field("as_of", p.AsOf); err != nil {
		return err
	}
	if err := field("settle_cutoff", p.SettleCutoff); err != nil {
		return err
	}
	if err := field("scope", p.Scope); err != nil {
		return err
	}
	if nc := NotChecked(p); nc != "" {
		if err := field("not_checked", nc); err != nil {
			return err
		}
	}
	if r.Refused != "" {
		if err := field("refused", r.Refused); err != nil {
			return err
		}
	}
	if err := list("refunds", refunds(r.refunds)); err != nil {
		return err
	}
	if r.Result != nil && r.Result.SkippedCount() > 0 {
		if err := list("skipped", refunds(r.skipped)); err != nil {
			return err
		}
	}
	if err := list("discrepancies", func(fn func(any) error) error {
		return p.EachDiscrepancy(func(d Discrepancy) error { return fn(d.wire()) })
	}); err != nil {
		return err
	}
	if err := field("totals", r.totals()); err != nil {
		return err
	}
	if !r.DryRun {
		if err := field("planned", p.Totals()); err != nil {
			return err
		}
	}
	if err := field("policy", p.Policy); err != nil {
		return err
	}
	w.WriteString("\n}\n")
	return nil
}

// NotChecked says what an incremental run did not look at: it plans only
// what changed since the last successful run, up to the settle cutoff, so it
// sees neither the refunds inside the settle delay nor the discrepancies
// among what did not change; its zeros are not "all clear". "" for a full
// sweep.
func NotChecked(p *Plan) string {
	if p == nil || p.Scope != "incremental" {
		return ""
	}
	return "incremental run; the daily full sweep reports discrepancies and refunds inside the settle delay"
}

// Column formats of the table report: fixed widths, so rows stream.
const (
	refundCols      = "%-12v  %-12v  %-12v  %-9v  %8v  %v\n"
	skippedCols     = "%-12v  %-9v  %8v  %v\n"
	discrepancyCols = "%-12v  %-9v  %-24v  %-12v  %-12v  %-19v  %8v  %8v\n"
	totalCols       = "%-19v  %-9v  %8v  %9v\n"
)

func writeTable(w *bufio.Writer, r Report) error {
	p := r.Plan
	if r.DryRun {
		fmt.Fprintf(w, "DRY RUN: nothing written. Plan as of %s; events before %s are reconciled.\n",
			p.AsOf.Format(time.RFC3339), p.SettleCutoff.Format(time.RFC3339))
	} else {
		fmt.Fprintf(w, "RUN %s: %s. Plan as of %s; events before %s reconciled.\n",
			r.Result.RunID, r.Result.Status, p.AsOf.Format(time.RFC3339), p.SettleCutoff.Format(time.RFC3339))
	}
	if r.Refused != "" {
		fmt.Fprintf(w, "REFUSED: %s\n", r.Refused)
	}
	totals := r.totals()
	title := "REFUNDS TO WRITE"
	if !r.DryRun {
		title = "REFUNDS WRITTEN"
	}
	fmt.Fprintf(w, "\n%s (%d)\n", title, totals.Refunds)
	if totals.Refunds > 0 {
		fmt.Fprintf(w, refundCols, "PROPOSAL", "FREELANCER", "JOB", "COMPONENT", "CONNECTS", "RULE")
	}
	if err := r.refunds(func(f Refund) error {
		_, err := fmt.Fprintf(w, refundCols, f.ProposalID, f.FreelancerID, f.JobID, f.Component, f.Charged, f.Rule)
		return err
	}); err != nil {
		return err
	}
	if r.Result != nil && r.Result.SkippedCount() > 0 {
		fmt.Fprintf(w, "\nPLANNED BUT NO LONGER OWED WHEN WRITTEN (%d)\n", r.Result.SkippedCount())
		fmt.Fprintf(w, skippedCols, "PROPOSAL", "COMPONENT", "CONNECTS", "RULE")
		if err := r.skipped(func(f Refund) error {
			_, err := fmt.Fprintf(w, skippedCols, f.ProposalID, f.Component, f.Charged, f.Rule)
			return err
		}); err != nil {
			return err
		}
	}
	if NotChecked(p) != "" {
		fmt.Fprintf(w, "\nDISCREPANCIES FOR A PERSON TO DECIDE, AMONG WHAT CHANGED (%d)\n", totals.Discrepancies)
	} else {
		fmt.Fprintf(w, "\nDISCREPANCIES FOR A PERSON TO DECIDE (%d)\n", totals.Discrepancies)
	}
	if totals.Discrepancies > 0 {
		fmt.Fprintf(w, discrepancyCols, "PROPOSAL", "COMPONENT", "KIND", "FREELANCER", "JOB", "RULE", "CHARGED", "REFUNDED")
	}
	if err := p.EachDiscrepancy(func(d Discrepancy) error {
		rule := string(d.Rule)
		if rule == "" {
			rule = "-"
		}
		_, err := fmt.Fprintf(w, discrepancyCols, d.ProposalID, d.Component, d.State, d.FreelancerID, d.JobID, rule, d.Charged, d.Refunded)
		return err
	}); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nTOTALS\n"+totalCols, "RULE", "COMPONENT", "REFUNDS", "CONNECTS")
	for _, rule := range Rules {
		for _, comp := range []Component{Base, Boost} {
			if a := totals.ByRuleComponent(rule, comp); a.Refunds > 0 {
				fmt.Fprintf(w, totalCols, rule, comp, a.Refunds, a.Connects)
			}
		}
	}
	fmt.Fprintf(w, totalCols, "all", "", totals.Refunds, totals.Connects)
	if nc := NotChecked(p); nc != "" {
		fmt.Fprintf(w, "\ndiscrepancies among what changed: %d; not checked: %s\n", totals.Discrepancies, nc)
	} else {
		fmt.Fprintf(w, "\nowed but inside the settle delay: %d; discrepancies: %d\n", totals.Pending, totals.Discrepancies)
	}
	return nil
}
