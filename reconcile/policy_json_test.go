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
