package finance

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/connects/connects-reconciler/reconcile"
)

func TestParseAge(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{"7d": 7 * 24 * time.Hour, "0d": 0, "36h": 36 * time.Hour, "90m": 90 * time.Minute} {
		if got, err := ParseAge(in); err != nil || got != want {
			t.Errorf("%q: got %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"d", "-1d", "36501d", "1.5d", "-2h", "soon", ""} {
		if _, err := ParseAge(in); err == nil || !strings.Contains(err.Error(), "--older-than must be a number of days") {
			t.Errorf("%q: got %v, want the --older-than message", in, err)
		}
	}
}

func TestExceptionQueryFilter(t *testing.T) {
	t.Parallel()
	f, problems := ExceptionQuery{State: "closed", Kind: "wrong_account", OlderThan: "7d", Format: "json"}.Filter()
	want := reconcile.ExceptionFilter{State: reconcile.ExceptionClosed, Kind: reconcile.WrongAccount, OlderThan: 7 * 24 * time.Hour}
	if len(problems) > 0 || f != want {
		t.Errorf("got %+v %v, want %+v", f, problems, want)
	}
	if f, problems := (ExceptionQuery{State: "all", Format: "table"}).Filter(); len(problems) > 0 || f != (reconcile.ExceptionFilter{}) {
		t.Errorf("all kinds and states: got %+v %v", f, problems)
	}
	// Every mistake at once, in the order of the flags; an owed refund is
	// no exception's kind.
	_, problems = ExceptionQuery{State: "shut", Kind: "missing_refund", OlderThan: "long", Format: "xml"}.Filter()
	if len(problems) != 4 || !strings.HasPrefix(problems[0], "--state") || !strings.HasPrefix(problems[1], "--kind must be one of unexpected_refund, wrong_account,") ||
		!strings.HasPrefix(problems[2], "--older-than") || !strings.HasPrefix(problems[3], "--format") {
		t.Errorf("got %q", problems)
	}
}

func TestAckRequestProblems(t *testing.T) {
	t.Parallel()
	if p := (AckRequest{ProposalID: 9, Component: "boost", Kind: "amount_mismatch", Note: "ok", By: "ann"}).Problems(); len(p) > 0 {
		t.Errorf("a good request: %q", p)
	}
	if p := (AckRequest{ProposalID: 9, Component: "base", Note: "ok", By: "ann"}).Problems(); len(p) > 0 {
		t.Errorf("no kind: %q", p)
	}
	got := AckRequest{Component: "gold", Kind: "refund", Note: " ", By: "\t"}.Problems()
	want := []string{"--proposal is required (a positive id)", `--component must be base or boost, got "gold"`,
		"--kind must be one of " + ExceptionKindNames() + `, got "refund"`, "--note is required", "--by is required"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestWriteAck(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	e := reconcile.Exception{Verdict: reconcile.Verdict{ProposalID: 981, Component: reconcile.Boost, State: reconcile.WrongAccount},
		Status: reconcile.ExceptionOpen, OpenSince: at.Add(-time.Hour), Ack: &reconcile.Ack{At: at, By: "ann", Note: "moved by hand"}}
	var b bytes.Buffer
	WriteAck(&b, e)
	if want := "acknowledged proposal 981 boost wrong_account (open since 2026-11-26T09:00:00Z) by ann at 2026-11-26T10:00:00Z: moved by hand\n"; b.String() != want {
		t.Errorf("got %q\nwant %q", b.String(), want)
	}
}
