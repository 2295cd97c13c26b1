package reconcile

import (
	"encoding/json"
	"testing"
)

func TestParsePrice(t *testing.T) {
	t.Parallel()
	good := map[string]struct {
		p    Price
		text string
	}{
		"0.15":   {1500, "0.15"},
		"1":      {10000, "1.00"},
		"0.1":    {1000, "0.10"},
		"0.1234": {1234, "0.1234"},
		"2.5000": {25000, "2.50"},
		"0":      {0, "0.00"},
		"1000":   {MaxPrice, "1000.00"},
	}
	for in, want := range good {
		got, err := ParsePrice(in)
		if err != nil || got != want.p {
			t.Errorf("ParsePrice(%q) = %d, %v; want %d", in, got, err, want.p)
			continue
		}
		if got.String() != want.text {
			t.Errorf("Price(%d).String() = %q, want %q", got, got.String(), want.text)
		}
	}
	for _, in := range []string{"", ".", ".15", "0.", "-0.15", "+1", "1e-2", "0.12345", "1,5", "0.15 ", "1000.01", "99999999999999999999"} {
		if p, err := ParsePrice(in); err == nil {
			t.Errorf("ParsePrice(%q) = %d, want an error", in, p)
		}
	}
}

func TestPriceValue(t *testing.T) {
	t.Parallel()
	cases := []struct {
		price    Price
		connects int64
		want     string
	}{
		{1500, 0, "0.00"},
		{1500, 1, "0.15"},
		{1500, 7, "1.05"},
		{1500, 123456789, "18518518.35"},
		{1500, -3, "-0.45"},
		{1234, 1, "0.12"},   // 0.1234 -> 0.12
		{1250, 1, "0.13"},   // 0.125 -> half away from zero
		{1250, -1, "-0.13"}, // symmetric
		{1249, 1, "0.12"},
		{3333, 3, "1.00"}, // 0.9999
	}
	for _, c := range cases {
		if got := c.price.Value(c.connects).String(); got != c.want {
			t.Errorf("%s × %d = %s, want %s", c.price, c.connects, got, c.want)
		}
	}
}

func TestCentsText(t *testing.T) {
	t.Parallel()
	for _, c := range []Cents{0, 5, -5, 105, -12345, 1 << 40} {
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var back Cents
		if err := json.Unmarshal(b, &back); err != nil || back != c {
			t.Errorf("round trip of %d through %s: got %d, %v", c, b, back, err)
		}
	}
	var c Cents
	for _, bad := range []string{`"1.5"`, `"1"`, `"a.bc"`, `".50"`, `1.50`} {
		if err := json.Unmarshal([]byte(bad), &c); err == nil {
			t.Errorf("Cents accepted %s", bad)
		}
	}
}
