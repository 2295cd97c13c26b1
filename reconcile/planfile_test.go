package reconcile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

func samplePlan() *Plan {
	asOf := time.Date(2026, 11, 26, 10, 0, 0, 123456000, time.UTC)
	closed := asOf.Add(-3 * time.Hour)
	recent := asOf.Add(-5 * time.Minute)
	p := &Plan{AsOf: asOf, SettleCutoff: asOf.Add(-15 * time.Minute), Policy: DefaultPolicy(), Scope: "full"}
	for _, f := range []Verdict{
		{ProposalID: 10, JobID: 1, FreelancerID: 100, Component: Base, Rule: RuleClosedWithoutHire, Charged: 4, EventAt: &closed, State: MissingRefund},
		{ProposalID: 10, JobID: 1, FreelancerID: 100, Component: Boost, Rule: RuleClosedWithoutHire, Charged: 9, EventAt: &closed, State: MissingRefund},
		{ProposalID: 20, JobID: 2, FreelancerID: 101, Component: Boost, Rule: RuleBoostOutbid, Charged: 12, EventAt: &closed, State: MissingRefund},
		{ProposalID: 30, JobID: 3, FreelancerID: 102, Component: Base, Charged: 4, Refunded: 4, State: UnexpectedRefund},
		{ProposalID: 40, JobID: 4, FreelancerID: 103, Component: Base, Rule: RuleTOSRemoved, Charged: 6, EventAt: &recent, State: PendingRefund},
	} {
		if err := p.Add(f); err != nil {
			panic(err)
		}
	}
	return p
}

// contentOf reads a plan's whole content into memory, for comparisons.
func contentOf(p *Plan) planContent {
	h := headOf(p)
	c := planContent{Format: PlanFormat, MadeAt: h.MadeAt, SettleCutoff: h.SettleCutoff, Scope: h.Scope, Shard: h.Shard,
		Policy: h.Policy, Totals: h.Totals, OldestPending: h.OldestPending,
		Refunds: []plannedRefund{}, Discrepancies: []Discrepancy{}, Pending: []plannedRefund{}}
	_ = p.EachRefund(func(r Refund) error { c.Refunds = append(c.Refunds, r.planned()); return nil })
	_ = p.EachDiscrepancy(func(d Discrepancy) error { c.Discrepancies = append(c.Discrepancies, d); return nil })
	_ = p.EachPending(func(r Refund) error { c.Pending = append(c.Pending, r.planned()); return nil })
	return c
}

func writePlan(t *testing.T, p *Plan) string {
	t.Helper()
	var b bytes.Buffer
	if err := WritePlan(&b, p); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestPlanFileRoundTrip(t *testing.T) {
	t.Parallel()
	p := samplePlan()
	text := writePlan(t, p)
	if again := writePlan(t, p); again != text {
		t.Fatalf("the same plan written twice differs:\n%s\n%s", text, again)
	}
	for _, want := range []string{`"fingerprint": "sha256:`, `"idempotency_key":"refund:10:boost"`, `"made_at": "2026-11-26T10:00:00.123456Z"`,
		`"settle_delay":"15m0s"`, `"unexpected_refund"`, `"pending": [`} {
		if !strings.Contains(text, want) {
			t.Errorf("plan file lacks %s:\n%s", want, text)
		}
	}
	got, err := ReadPlan(strings.NewReader(text), p.AsOf.Add(time.Hour), 24*time.Hour)
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	if want, gotC := contentOf(p), contentOf(got); !reflect.DeepEqual(gotC, want) {
		t.Errorf("read back:\n got %+v\nwant %+v", gotC, want)
	}
	// The fingerprint is the one json.Marshal of the content gives, as
	// before plans were streamed: files written by earlier versions verify.
	want, err := fingerprint(contentOf(p))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, want) {
		t.Errorf("streamed fingerprint differs from json.Marshal's %s:\n%s", want, text)
	}
}

func TestPlanFileRefusesEdits(t *testing.T) {
	t.Parallel()
	p := samplePlan()
	text := writePlan(t, p)
	now := p.AsOf.Add(time.Minute)
	edits := map[string][2]string{
		"an amount":          {`"connects":9,`, `"connects":90,`},
		"the made_at time":   {`"made_at": "2026-11-26T10:00:00.123456Z"`, `"made_at": "2026-11-26T11:00:00.123456Z"`},
		"the policy":         {`"refund_declined":false`, `"refund_declined":true`},
		"a refund's account": {`"freelancer_id":101,`, `"freelancer_id":999,`},
		"the fingerprint":    {`"fingerprint": "sha256:`, `"fingerprint": "sha256:0`},
	}
	for name, e := range edits {
		if !strings.Contains(text, e[0]) {
			t.Fatalf("%s: %q not in the file", name, e[0])
		}
		edited := strings.Replace(text, e[0], e[1], 1)
		_, err := ReadPlan(strings.NewReader(edited), now, time.Hour)
		if !errors.Is(err, ErrPlanEdited) {
			t.Errorf("edited %s: got %v, want ErrPlanEdited", name, err)
		} else if !strings.Contains(err.Error(), "fingerprint mismatch") {
			t.Errorf("edited %s: message does not name the problem: %v", name, err)
		}
	}
	// Dropping a refund is an edit too.
	start := strings.Index(text, `,
    {"proposal_id":20,`)
	end := strings.Index(text[start:], "}") + start + 1
	dropped := text[:start] + text[end:]
	if _, err := ReadPlan(strings.NewReader(dropped), now, time.Hour); !errors.Is(err, ErrPlanEdited) && !errors.Is(err, ErrPlanInvalid) {
		t.Errorf("dropped a refund: got %v, want a refusal", err)
	}
	// Whitespace is not content.
	if _, err := ReadPlan(strings.NewReader(strings.ReplaceAll(text, "\n  ", "\n    ")), now, time.Hour); err != nil {
		t.Errorf("re-indented plan: %v, want accepted", err)
	}
}

func TestPlanFileMaxAge(t *testing.T) {
	t.Parallel()
	p := samplePlan()
	text := writePlan(t, p)
	_, err := ReadPlan(strings.NewReader(text), p.AsOf.Add(25*time.Hour), 24*time.Hour)
	if !errors.Is(err, ErrPlanTooOld) || !strings.Contains(err.Error(), "25h0m0s ago") {
		t.Errorf("25h old with max 24h: got %v, want ErrPlanTooOld naming the age", err)
	}
	if _, err := ReadPlan(strings.NewReader(text), p.AsOf.Add(23*time.Hour), 24*time.Hour); err != nil {
		t.Errorf("23h old with max 24h: %v", err)
	}
	if _, err := ReadPlan(strings.NewReader(text), p.AsOf.Add(1000*time.Hour), 0); err != nil {
		t.Errorf("max age 0 (any): %v", err)
	}
	if _, err := ReadPlan(strings.NewReader(text), p.AsOf.Add(-time.Hour), time.Hour); !errors.Is(err, ErrPlanInvalid) {
		t.Errorf("plan from the future: got %v, want ErrPlanInvalid", err)
	}
}

func TestPlanFileInvalid(t *testing.T) {
	t.Parallel()
	text := writePlan(t, samplePlan())
	now := samplePlan().AsOf
	for name, in := range map[string]string{
		"not JSON":       "refund everyone",
		"empty":          "",
		"another format": strings.Replace(text, PlanFormat, "connects-reconciler/plan/v0", 1),
		"unknown field":  strings.Replace(text, `"scope": "full",`, `"scope": "full", "extra": 1,`, 1),
		"two values":     text + "{}",
		"no fingerprint": strings.Replace(text, `"fingerprint"`, `"fingerprint_"`, 1),
	} {
		_, err := ReadPlan(strings.NewReader(in), now, 0)
		if !errors.Is(err, ErrPlanInvalid) {
			t.Errorf("%s: got %v, want ErrPlanInvalid", name, err)
		}
	}
}

// A plan file written before a component's states were one type (by
// samplePlan then, testdata/plan-v1-before-state.json) still verifies and
// reads back as the same plan, and the plan is written byte for byte as it
// was: its owed refunds are filed by list, not by a class spelling, and its
// discrepancies' kinds kept their spellings.
func TestPlanFileWrittenBeforeStates(t *testing.T) {
	t.Parallel()
	old, err := os.ReadFile("testdata/plan-v1-before-state.json")
	if err != nil {
		t.Fatal(err)
	}
	p := samplePlan()
	old = withPolicyOfNow(t, old, p)
	got, err := ReadPlan(bytes.NewReader(old), p.AsOf.Add(time.Hour), 24*time.Hour)
	if err != nil {
		t.Fatalf("a plan file of the earlier version: %v", err)
	}
	if want, gotC := contentOf(p), contentOf(got); !reflect.DeepEqual(gotC, want) {
		t.Errorf("read back:\n got %+v\nwant %+v", gotC, want)
	}
	if text := writePlan(t, p); text != string(old) {
		t.Errorf("the same plan is written differently now:\n%s\nwas\n%s", text, old)
	}
}

// withPolicyOfNow gives a pinned plan file the policy settings of now. The
// file is about states, not settings: a setting added since it was made
// (a new rule toggle) makes it a plan of other settings, which ReadPlan
// refuses naming exactly the settings it lacks (checked here); every setting
// it has must have the value now's plan has. The file is then read with the
// settings of now, re-fingerprinted, so a new setting needs no new file.
func withPolicyOfNow(t *testing.T, file []byte, p *Plan) []byte {
	t.Helper()
	now, err := json.Marshal(p.Policy)
	if err != nil {
		t.Fatal(err)
	}
	var had, has map[string]json.RawMessage
	lines := strings.Split(string(file), "\n")
	at := -1
	for i, l := range lines {
		if strings.HasPrefix(l, `  "policy": `) {
			at = i
			if err := json.Unmarshal([]byte(strings.TrimSuffix(strings.TrimPrefix(l, `  "policy": `), ",")), &had); err != nil {
				t.Fatalf("the pinned file's policy: %v", err)
			}
		}
	}
	if at < 0 || json.Unmarshal(now, &has) != nil {
		t.Fatal("the pinned file has no policy line")
	}
	var missing []string
	for k, v := range has {
		if w, ok := had[k]; !ok {
			missing = append(missing, k)
		} else if !bytes.Equal(w, v) {
			t.Fatalf("the pinned file's %s is %s, now's plan has %s", k, w, v)
		}
	}
	for k := range had {
		if _, ok := has[k]; !ok {
			t.Fatalf("the pinned file's setting %s is no setting now: it is a plan of other settings", k)
		}
	}
	if len(missing) == 0 {
		return file
	}
	sort.Strings(missing)
	_, err = ReadPlan(bytes.NewReader(file), p.AsOf.Add(time.Hour), 24*time.Hour)
	if !errors.Is(err, ErrPlanInvalid) || !strings.Contains(err.Error(), "missing: "+strings.Join(missing, ", ")+";") {
		t.Fatalf("a plan file without the settings %v: got %v, want it refused naming them", missing, err)
	}
	lines[at] = `  "policy": ` + string(now) + ","
	var pf planFile
	if err := json.Unmarshal([]byte(strings.Join(lines, "\n")), &pf); err != nil {
		t.Fatal(err)
	}
	fp, err := fingerprint(pf.planContent)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range lines {
		if strings.HasPrefix(l, `  "fingerprint": `) {
			lines[i] = `  "fingerprint": "` + fp + `",`
		}
	}
	return []byte(strings.Join(lines, "\n"))
}

// A discrepancy whose kind is not a discrepancy state (an owed refund's
// state, the policy's class spellings before states were one type, or an
// unknown kind) is refused with a clear error, even under a correct
// fingerprint.
func TestPlanFileRefusesNonDiscrepancyKind(t *testing.T) {
	t.Parallel()
	p := samplePlan()
	for _, kind := range []string{"refund", "pending", string(MissingRefund), string(PendingRefund), string(NotOwed), "bogus", ""} {
		c := contentOf(p)
		c.Discrepancies[0].State = State(kind)
		fp, err := fingerprint(c)
		if err != nil {
			t.Fatal(err)
		}
		data, err := json.Marshal(planFile{Fingerprint: fp, planContent: c})
		if err != nil {
			t.Fatal(err)
		}
		_, err = ReadPlan(bytes.NewReader(data), p.AsOf.Add(time.Minute), time.Hour)
		if !errors.Is(err, ErrPlanInvalid) || !strings.Contains(err.Error(), fmt.Sprintf("discrepancy 1: kind %q is not a discrepancy kind (unexpected_refund, ", kind)) {
			t.Errorf("kind %q: got %v, want ErrPlanInvalid naming the kind", kind, err)
		}
	}
}

// A plan made by a version of the job with other policy settings (one
// without a toggle this version has, or with one it does not know) is
// refused saying so, not as an edited file: reviewed under other rules, it
// is not this version's to apply.
func TestPlanFileOtherPolicySettings(t *testing.T) {
	t.Parallel()
	p := samplePlan()
	text := writePlan(t, p)
	now := p.AsOf.Add(time.Minute)
	for name, e := range map[string][2]string{
		"a setting missing":  {`"refund_declined":false,`, ``},
		"an unknown setting": {`"refund_declined":false,`, `"refund_declined":false,"refund_expired":true,`},
	} {
		if !strings.Contains(text, e[0]) {
			t.Fatalf("%s: %q not in the file", name, e[0])
		}
		_, err := ReadPlan(strings.NewReader(strings.Replace(text, e[0], e[1], 1)), now, time.Hour)
		if !errors.Is(err, ErrPlanInvalid) || errors.Is(err, ErrPlanEdited) {
			t.Errorf("%s: got %v, want ErrPlanInvalid", name, err)
			continue
		}
		want := "missing: refund_declined; unknown: none"
		if name == "an unknown setting" {
			want = "missing: none; unknown: refund_expired"
		}
		if !strings.Contains(err.Error(), "other policy settings ("+want+")") {
			t.Errorf("%s: the message does not name the settings: %v", name, err)
		}
	}
}
