package reconcile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// The JSON report is valid JSON of the fixed shape, streamed from the spools
// (more refunds than a spool keeps in memory); the table names what an
// incremental run did not check.
func TestReportStreams(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	p := &Plan{AsOf: at, SettleCutoff: at.Add(-15 * time.Minute), Policy: DefaultPolicy(), Scope: "incremental"}
	n := spoolMemory + 10
	var batch []Verdict
	for i := range n {
		f := Verdict{ProposalID: int64(i + 1), JobID: 7, FreelancerID: 100, Component: Base, Rule: RuleClosedWithoutHire,
			Charged: 3, State: MissingRefund, EventAt: &at}
		if err := p.Add(f); err != nil {
			t.Fatal(err)
		}
		if i > 0 { // the first skipped
			f.LedgerEntryID = int64(1000 + i)
		}
		batch = append(batch, f)
	}
	if err := p.Add(Verdict{ProposalID: 5, Component: Boost, State: WrongAccount, Charged: 4, Refunded: 4, RefundedTo: 9}); err != nil {
		t.Fatal(err)
	}
	res := &Result{RunID: "r1", Status: StatusSucceeded, Plan: p}
	if err := res.Record(batch); err != nil {
		t.Fatal(err)
	}
	defer res.Close()

	var b bytes.Buffer
	if err := (Report{Plan: p, Result: res}).Write(&b, "json"); err != nil {
		t.Fatal(err)
	}
	var got struct {
		RunID         string        `json:"run_id"`
		Scope         string        `json:"scope"`
		NotChecked    string        `json:"not_checked"`
		Refunds       []Refund      `json:"refunds"`
		Skipped       []Refund      `json:"skipped"`
		Discrepancies []Discrepancy `json:"discrepancies"`
		Totals        Totals        `json:"totals"`
		Planned       Totals        `json:"planned"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("not JSON: %v\n%.300s", err, b.String())
	}
	if got.RunID != "r1" || got.Scope != "incremental" || got.NotChecked == "" || len(got.Refunds) != n-1 || len(got.Skipped) != 1 ||
		got.Totals.Refunds != int64(n-1) || got.Planned.Refunds != int64(n) || len(got.Discrepancies) != 1 || got.Discrepancies[0].RefundedTo != 9 {
		t.Errorf("report: run %q scope %q not_checked %q, %d refunds (totals %d, planned %d), %d skipped, discrepancies %+v",
			got.RunID, got.Scope, got.NotChecked, len(got.Refunds), got.Totals.Refunds, got.Planned.Refunds, len(got.Skipped), got.Discrepancies)
	}
	b.Reset()
	if err := (Report{Plan: p, Result: res}).Write(&b, "table"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{fmt.Sprintf("REFUNDS WRITTEN (%d)", n-1), "PLANNED BUT NO LONGER OWED WHEN WRITTEN (1)", "AMONG WHAT CHANGED (1)", "wrong_account", "not checked: incremental run"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table report lacks %q", want)
		}
	}
}
