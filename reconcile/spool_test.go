package reconcile

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

// TestSpoolSpillsAndReadsBack adds more findings than a spool keeps in
// memory: they come back in order, equal, as often as they are read.
func TestSpoolSpillsAndReadsBack(t *testing.T) {
	t.Parallel()
	var s spool
	defer s.close()
	var want []Verdict
	at := time.Date(2026, 11, 1, 0, 0, 0, 123000, time.UTC)
	for i := range int64(3*spoolMemory + 17) {
		f := Verdict{ProposalID: i/2 + 1, JobID: i % 7, FreelancerID: -i, Charged: i * 3, Refunded: i % 5,
			Component: []Component{Base, Boost}[i%2], Rule: RuleBoostOutbid, State: MissingRefund, LedgerEntryID: i << 40}
		if i%3 == 0 {
			e := at.Add(time.Duration(i) * time.Microsecond)
			f.EventAt = &e
		}
		if err := s.add(f); err != nil {
			t.Fatal(err)
		}
		want = append(want, f)
	}
	if s.file == nil {
		t.Fatal("the spool did not move to a file")
	}
	for range 2 {
		got, err := collect(s.each)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) || s.len() != int64(len(want)) {
			t.Fatalf("got %d findings (len %d), want %d", len(got), s.len(), len(want))
		}
		if !reflect.DeepEqual(got, want) {
			for i := range got {
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Fatalf("finding %d: got %+v, want %+v", i, got[i], want[i])
				}
			}
		}
	}
	if err := s.add(Verdict{ProposalID: 1, Component: Base}); !errors.Is(err, ErrOutOfOrder) {
		t.Errorf("a finding out of order: got %v, want ErrOutOfOrder", err)
	}
}
