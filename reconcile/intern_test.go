package reconcile

import "testing"

// An interner hands out one string per value: the names a finding carries
// without allocating even when nil, other values once each.
func TestInterner(t *testing.T) {
	state, run := []byte("missing_refund"), []byte("20261204T101500Z-0a1b2c3d")
	if n := testing.AllocsPerRun(100, func() { _ = Intern(state) }); n != 0 {
		t.Errorf("Intern of a known name: %v allocations, want 0", n)
	}
	in := Interner{}
	first := in.Intern(run)
	if n := testing.AllocsPerRun(100, func() { _ = in.Intern(run) }); n != 0 {
		t.Errorf("Interner of a value seen before: %v allocations, want 0", n)
	}
	if got := in.Intern(run); got != first || got != string(run) {
		t.Errorf("got %q, want %q", got, run)
	}
	if got := Interner(nil).Intern(run); got != string(run) {
		t.Errorf("a nil Interner: got %q, want %q", got, run)
	}
}

// Digits are grouped by three, a sign kept in front.
func TestThousands(t *testing.T) {
	for in, want := range map[string]string{"0": "0", "999": "999", "1000": "1,000", "-1250000": "-1,250,000", "12345": "12,345"} {
		if got := Thousands(in); got != want {
			t.Errorf("Thousands(%q) = %q, want %q", in, got, want)
		}
	}
}
