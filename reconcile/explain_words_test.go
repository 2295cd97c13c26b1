package reconcile

import (
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// policyCodes parses out of policy.sql every code it can emit: each literal
// that a THEN or ELSE yields or that is a coalesce's default. Comments are
// dropped first; literals a condition compares with (a job status, an entry
// type) are in neither place.
func policyCodes(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("../sql/queries/policy.sql")
	if err != nil {
		t.Fatal(err)
	}
	text := regexp.MustCompile(`--[^\n]*`).ReplaceAllString(string(b), "")
	codes := map[string]bool{}
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`(?i)\b(?:THEN|ELSE)\s+'([a-z_]+)'`),
		regexp.MustCompile(`(?i)\bcoalesce\([^()]*,\s*'([a-z_]+)'\s*\)`),
	} {
		for _, m := range re.FindAllStringSubmatch(text, -1) {
			codes[m[1]] = true
		}
	}
	return codes
}

// policySettings are the JSON names of the Policy's on/off settings: the
// names policy.sql emits as the setting that decided.
func policySettings(t *testing.T) map[string]bool {
	t.Helper()
	b, err := json.Marshal(DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for k, v := range fields {
		if _, ok := v.(bool); ok {
			out[k] = true
		}
	}
	return out
}

// Every code policy.sql can emit has words: a state (the class, refunded,
// not_owed, the defects) words for where the component stands, a reason (a
// rule, an exclusion, a defect) words for why, a setting words for what it
// being off (or on) decided. A code without words fails here, naming it, and
// so does a word for a code policy.sql no longer emits.
func TestEveryPolicyCodeIsWorded(t *testing.T) {
	t.Parallel()
	codes := policyCodes(t)
	settings := policySettings(t)
	// The parse itself: it must see codes of every kind, or a change of
	// the file's shape would make this test pass on nothing.
	for _, known := range []string{string(MissingRefund), string(PendingRefund), string(Refunded), string(NotOwed),
		string(UnknownJob), string(InvalidBidOutcome), ReasonNothingCharged, ReasonRuleOff, ReasonNoRule, ReasonDeclined,
		string(RuleBoostOutbid), "tos_removed_boost", "refund_declined"} {
		if !codes[known] {
			t.Fatalf("policy.sql's codes as parsed lack %q: the parse no longer sees the file's codes (got %v)", known, sorted(codes))
		}
	}
	isState := map[State]bool{MissingRefund: true, PendingRefund: true, Refunded: true, NotOwed: true}
	for _, s := range DiscrepancyStates {
		isState[s] = true
	}
	for code := range codes {
		_, reason := reasonWords[code]
		_, state := stateWords[State(code)]
		_, setting := settingWords[code]
		switch {
		case settings[code] && !setting:
			t.Errorf("policy.sql names the setting %q as deciding, but settingWords has no words for it", code)
		case isState[State(code)] && !state:
			t.Errorf("policy.sql emits the state %q, but stateWords has no words for it", code)
		case !reason && !state && !setting:
			t.Errorf("policy.sql emits %q, which has no words: add it to reasonWords (a rule, exclusion or defect), stateWords or settingWords", code)
		}
		// A defect is both the state and the reason of its component.
		if State(code).Discrepancy() && isDefect(State(code)) && !reason {
			t.Errorf("policy.sql emits the defect %q, the reason of its component too, but reasonWords has no words for it", code)
		}
	}
	for _, s := range DiscrepancyStates {
		if !codes[string(s)] {
			t.Errorf("the discrepancy %q is not among policy.sql's codes", s)
		}
	}
	// No words for codes policy.sql does not emit.
	var stale []string
	for code := range reasonWords {
		if !codes[code] {
			stale = append(stale, code)
		}
	}
	for s := range stateWords {
		if !codes[string(s)] {
			stale = append(stale, string(s))
		}
	}
	for code := range settingWords {
		if !codes[code] {
			stale = append(stale, code)
		}
	}
	if len(stale) > 0 {
		sort.Strings(stale)
		t.Errorf("words for codes policy.sql never emits: %s", strings.Join(stale, ", "))
	}
	// Every rule is a reason (owed) with words.
	for _, r := range Rules {
		if _, ok := reasonWords[string(r)]; !ok {
			t.Errorf("rule %s has no words", r)
		}
	}
}

// isDefect says s is a defect kind: a discrepancy the policy does not judge.
func isDefect(s State) bool {
	switch s {
	case UnexpectedRefund, WrongAccount, AmountMismatch, MissingBalance:
		return false
	}
	return s.Discrepancy()
}

// Explain words a code from the table: each reason, state and setting
// worded through Explain gives the table's words, never the fallback.
func TestExplainUsesTheWordingTable(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy()
	for code := range policyCodes(t) {
		f := ProposalFacts{ProposalID: 10, Exists: true, JobStatus: "closed", CloseReason: "no_hire",
			Components: []ComponentFacts{{Component: Boost, Charged: 4, Reason: code, State: NotOwed}}}
		c := &f.Components[0]
		if _, ok := stateWords[State(code)]; ok {
			c.State = State(code)
			if _, reason := reasonWords[code]; !reason {
				c.Reason = ReasonNothingCharged
			}
		}
		if _, ok := settingWords[code]; ok {
			c.Reason, c.Toggle = ReasonRuleOff, code
		} else if code == ReasonRuleOff {
			c.Toggle = string(RuleBoostOutbid)
		}
		x := Explain(f, p).Components[0]
		for _, s := range []string{x.Why, x.Outcome} {
			if strings.HasPrefix(s, "the policy's reason") || strings.HasPrefix(s, "the setting ") || s == string(x.Status) {
				t.Errorf("%s: worded by the fallback: why %q, outcome %q", code, x.Why, x.Outcome)
			}
		}
	}
	if reflect.DeepEqual(policyCodes(t), map[string]bool{}) {
		t.Fatal("no codes")
	}
}

func sorted(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
