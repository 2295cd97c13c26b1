package postgres

import (
	"slices"
	"testing"
)

// An incremental run's changed proposals are planned in as few slices as
// the workers allow (each slice costs a planning of the policy statement),
// a multiple of them, of at most maxIDsPerSlice ids and at least
// minIDsPerSlice; every id once, in order, though changed_proposals.sql
// returns them unordered and a boosted proposal of a closed job whose
// auction ended twice.
func TestIncrementalSlices(t *testing.T) {
	t.Parallel()
	ids := func(n int) []int64 {
		out := make([]int64, 0, n+1)
		for i := n; i >= 1; i-- { // descending: the statement's order is none
			out = append(out, int64(i))
		}
		return out
	}
	for _, c := range []struct {
		name    string
		ids     []int64
		workers int
		want    []int // ids per slice
	}{
		{"none", nil, 2, nil},
		{"fewer than the least slice", ids(300), 2, []int{300}},
		{"a 1M day: one slice per worker", ids(5436), 2, []int{2718, 2718}},
		{"a 5M day: two slices per worker", ids(24759), 2, []int{6189, 6190, 6190, 6190}},
		{"one worker", ids(5436), 1, []int{5436}},
		{"four workers, small", ids(1200), 4, []int{600, 600}},
		{"a duplicate where slices meet", append(ids(1000), 500), 2, []int{500, 500}},
	} {
		want := slices.Compact(slices.Sorted(slices.Values(c.ids)))
		got := incrementalSlices(c.ids, c.workers)
		var sizes []int
		var all []int64
		for _, s := range got {
			sizes = append(sizes, len(s.IDs))
			all = append(all, s.IDs...)
		}
		if !slices.Equal(sizes, c.want) {
			t.Errorf("%s: slice sizes %v, want %v", c.name, sizes, c.want)
		}
		if !slices.Equal(all, want) {
			t.Errorf("%s: the slices hold %d ids, want each of the %d once, in order", c.name, len(all), len(want))
		}
	}
}
