package postgres

import (
	"reflect"
	"testing"

	"github.com/connects/connects-reconciler/reconcile"
)

func TestIDSlicesDenseRunsBecomeRanges(t *testing.T) {
	t.Parallel()
	ids := []int64{1, 2, 3, 5, 100, 1000, 1001, 1002, 1003}
	got := idSlices(ids, 4)
	want := []reconcile.Slice{
		{Lo: 1, Hi: 6},                        // 1,2,3,5: dense
		{IDs: []int64{100, 1000, 1001, 1002}}, // sparse: looked up by id
		{Lo: 1003, Hi: 1004},                  // one id
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if got := idSlices(nil, 4); got != nil {
		t.Errorf("no ids: got %+v, want no slices", got)
	}
}
