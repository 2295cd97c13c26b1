package reconcile

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

// FuzzReadPlan feeds the plan-file reader arbitrary bytes. It must never
// panic; it fails only with ErrPlanInvalid, ErrPlanEdited or ErrPlanTooOld;
// and a plan it accepts is sound (components, positive amounts, the job's
// keys, proposal order, totals) and reads back the same once written again.
//
// With refingerprint set, the input's content gets a correct fingerprint
// before it is read, as a person who edits a plan and recomputes the
// fingerprint would do: then checkContent, not the fingerprint, must stop
// what is unsound. The corpus is in testdata/fuzz/FuzzReadPlan.
func FuzzReadPlan(f *testing.F) {
	var b bytes.Buffer
	if err := WritePlan(&b, samplePlan()); err != nil {
		f.Fatal(err)
	}
	valid := b.Bytes()
	f.Add(valid, false)
	f.Add(valid, true)
	f.Add(bytes.Replace(valid, []byte(`"connects":9`), []byte(`"connects":-9`), 1), true)
	f.Add(bytes.Replace(valid, []byte(`"component":"boost"`), []byte(`"component":"gold"`), 1), true)
	f.Add(bytes.Replace(valid, []byte(`"proposal_id":20`), []byte(`"proposal_id":5`), 1), true)
	f.Add([]byte(`{}`), true)
	f.Add([]byte(`{"format": "connects-reconciler/plan/v1"} {}`), false)
	f.Add([]byte(`null`), true)
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte, refingerprint bool) {
		if refingerprint {
			var pf planFile
			if json.Unmarshal(data, &pf) != nil {
				return
			}
			fp, err := fingerprint(pf.planContent)
			if err != nil {
				return
			}
			pf.Fingerprint = fp
			if data, err = json.Marshal(pf); err != nil {
				return
			}
		}
		p, err := ReadPlan(bytes.NewReader(data), now, 24*time.Hour)
		if err != nil {
			if !errors.Is(err, ErrPlanInvalid) && !errors.Is(err, ErrPlanEdited) && !errors.Is(err, ErrPlanTooOld) {
				t.Fatalf("ReadPlan failed with an error of no known kind: %v", err)
			}
			if p != nil {
				t.Fatal("ReadPlan returned a plan with its error")
			}
			return
		}
		refunds, err := p.Refunds()
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range refunds {
			if r.Component != Base && r.Component != Boost || r.Charged <= 0 {
				t.Fatalf("accepted refund %d: %+v", i, r)
			}
			if i > 0 && !lessPC(refunds[i-1].ProposalID, refunds[i-1].Component, r.ProposalID, r.Component) {
				t.Fatalf("accepted refunds out of order or doubled at %d", i)
			}
		}
		var again bytes.Buffer
		if err := WritePlan(&again, p); err != nil {
			t.Fatalf("an accepted plan does not write: %v", err)
		}
		p2, err := ReadPlan(&again, now, 24*time.Hour)
		if err != nil {
			t.Fatalf("an accepted plan, written again, does not read: %v", err)
		}
		if !reflect.DeepEqual(contentOf(p), contentOf(p2)) {
			t.Fatalf("round trip changed the plan:\n got %+v\nwant %+v", contentOf(p2), contentOf(p))
		}
	})
}
