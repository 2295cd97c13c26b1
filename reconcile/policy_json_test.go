package reconcile

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestPolicyJSONRoundTrip(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy()
	p.SettleDelay = 90 * time.Second
	p.RefundDeclined = true
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"settle_delay":"1m30s"`) {
		t.Errorf("settle_delay not written as a duration: %s", b)
	}
	var back Policy
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, p) {
		t.Errorf("round trip: got %+v, want %+v", back, p)
	}
	if err := json.Unmarshal([]byte(`{"settle_delay": "soon"}`), &back); err == nil {
		t.Error("a bad settle_delay must be an error")
	}
}

// Toggles names every on/off setting, in the order of the Policy's fields,
// with its value: the report's footer shows the policy through it, so a new
// toggle is shown without a change there.
func TestPolicyToggles(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy()
	p.RefundDeclined = true
	p.BoostOutbid = false
	got := p.Toggles()
	want := []Toggle{{"tos_removed", true}, {"tos_removed_boost", true}, {"closed_without_hire", true},
		{"closed_without_hire_boost", true}, {"refund_declined", true}, {"boost_outbid", false}}
	if len(got) < len(want) || !reflect.DeepEqual(got[:len(want)], want) {
		t.Errorf("toggles: got %v, want %v first", got, want)
	}
	n := 0
	for _, f := range reflect.VisibleFields(reflect.TypeOf(p)) {
		if f.Type.Kind() == reflect.Bool {
			n++
		}
	}
	if len(got) != n {
		t.Errorf("toggles: got %d, the Policy has %d bool fields", len(got), n)
	}
}
