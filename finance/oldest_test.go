package finance

import (
	"math/rand/v2"
	"reflect"
	"sort"
	"testing"
)

// oldestRows keeps what a stable sort by age (oldest first, unknown ages
// last) cut at n would keep, in the same order, for any input.
func TestOldestRowsIsAStableSortCut(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 500; round++ {
		total, n := r.IntN(60), r.IntN(12)
		var all []reportDiscrepancy
		o := oldestRows{n: n}
		for i := 0; i < total; i++ {
			d := reportDiscrepancy{Discrepancy: Discrepancy{ProposalID: int64(i)}}
			if r.IntN(5) > 0 {
				age := int64(r.IntN(8)) // few distinct ages: many ties
				d.AgeSeconds = &age
			}
			all = append(all, d)
			o.add(d)
		}
		want := append([]reportDiscrepancy(nil), all...)
		sort.SliceStable(want, func(i, j int) bool { return ageOf(want[i]) > ageOf(want[j]) })
		wantMore := 0
		if len(want) > n {
			want, wantMore = want[:n], len(want)-n
		}
		got, more := o.rows()
		if len(got) == 0 && len(want) == 0 {
			got, want = nil, nil
		}
		if !reflect.DeepEqual(got, want) || more != wantMore {
			t.Fatalf("round %d (%d rows, keep %d): got %d rows %v (+%d), want %v (+%d)",
				round, total, n, len(got), ids(got), more, ids(want), wantMore)
		}
	}
}

func ids(rs []reportDiscrepancy) []int64 {
	var out []int64
	for _, r := range rs {
		out = append(out, r.ProposalID)
	}
	return out
}
