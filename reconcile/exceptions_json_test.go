package reconcile

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// The JSON listing of exceptions (discrepancies list --format json) keeps its
// keys and their order: tools read it. Only wrong_account names the account
// the refund credited.
func TestExceptionJSONShape(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	e := Exception{ID: 3, Verdict: Verdict{ProposalID: 50, Component: Base, State: WrongAccount, FreelancerID: 500,
		JobID: 5, Charged: 3, Refunded: 3, RefundedTo: 501}, Status: ExceptionOpen, FirstSeenAt: at, FirstRunID: "a",
		LastSeenAt: at, LastRunID: "b", OpenSince: at, Ack: &Ack{At: at.Add(time.Hour), By: "ann", Note: "n"}}
	b, err := json.Marshal(e.JSON(at.Add(2 * time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":3,"proposal_id":50,"component":"base","kind":"wrong_account","freelancer_id":500,"job_id":5,` +
		`"charged":3,"refunded":3,"refunded_to":501,"state":"open","first_seen_at":"2026-11-26T10:00:00Z","first_run_id":"a",` +
		`"last_seen_at":"2026-11-26T10:00:00Z","last_run_id":"b","open_since":"2026-11-26T10:00:00Z","reopened_count":0,` +
		`"ack":{"at":"2026-11-26T11:00:00Z","by":"ann","note":"n"},"age_seconds":7200,"acknowledged":true}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	e.State = AmountMismatch
	if b, _ := json.Marshal(e.JSON(at)); strings.Contains(string(b), "refunded_to") {
		t.Errorf("amount_mismatch names the account refunded: %s", b)
	}
}
