package reconcile

import (
	"strings"
	"sync"
	"testing"
	"time"
)

func TestProgressNil(t *testing.T) {
	var p *Progress
	task := p.Start("planning", "proposals", 10)
	task.Add(1)
	task.Count("written", 1)
	task.Fraction(0.5)
	task.Done()
	if task != nil {
		t.Fatal("a nil Progress started a task")
	}
}

func TestProgressLine(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	p := &Progress{Every: time.Hour, Now: func() time.Time { return now }}
	task := p.Start("applying", "refunds", 1000)
	defer task.Done()
	task.Count("written", 0)
	task.Add(250)
	task.Count("written", 240)
	now = now.Add(10 * time.Second)
	if got, want := task.snapshot().line(task), "applying 250 of 1,000 refunds (25%), 240 written, 25/s, 30s left"; got != want {
		t.Errorf("line: got %q, want %q", got, want)
	}
	ex := p.Start("exporting", "refunds", 0)
	defer ex.Done()
	ex.Add(1234567)
	ex.Fraction(0.8)
	now = now.Add(80 * time.Minute)
	if got, want := ex.snapshot().line(ex), "exporting 1,234,567 refunds (80%), 257/s, 20m left"; got != want {
		t.Errorf("line: got %q, want %q", got, want)
	}
}

// A live line is redrawn at the interval and erased at the end; records
// never come more often than the interval.
func TestProgressLive(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	p := &Progress{Every: 10 * time.Millisecond, Live: func(l string) { mu.Lock(); lines = append(lines, l); mu.Unlock() }}
	task := p.Start("planning", "proposals", 100)
	start := time.Now()
	for i := 0; i < 10; i++ {
		time.Sleep(10 * time.Millisecond)
		task.Add(10)
	}
	task.Done()
	elapsed := time.Since(start)
	mu.Lock()
	defer mu.Unlock()
	if len(lines) < 2 || lines[len(lines)-1] != "" {
		t.Fatalf("live lines %q: want several, the last erasing", lines)
	}
	if max := int(elapsed/(10*time.Millisecond)) + 1; len(lines)-1 > max {
		t.Errorf("%d lines in %s at one per 10ms", len(lines)-1, elapsed)
	}
	if !strings.HasPrefix(lines[0], "planning ") || !strings.Contains(lines[0], " of 100 proposals") {
		t.Errorf("line %q", lines[0])
	}
}

func TestSliceProposals(t *testing.T) {
	for _, c := range []struct {
		slices []Slice
		batch  int64
		want   []int64
	}{
		// full slices hold batch proposals; the last is estimated at the others' density
		{[]Slice{{Lo: 1, Hi: 201}, {Lo: 201, Hi: 401}, {Lo: 401, Hi: 501}}, 100, []int64{100, 100, 50}},
		// a single slice: one proposal per id, at most batch
		{[]Slice{{Lo: 1, Hi: 3001}}, 50000, []int64{3000}},
		{[]Slice{{Lo: 1, Hi: 90001}}, 50000, []int64{50000}},
		{[]Slice{{IDs: []int64{1, 5, 9}}, {IDs: []int64{12}}}, 100, []int64{3, 1}},
	} {
		w, total := sliceProposals(c.slices, c.batch)
		var sum int64
		for _, n := range c.want {
			sum += n
		}
		if len(w) != len(c.want) || total != sum {
			t.Errorf("%v: got %v (%d), want %v", c.slices, w, total, c.want)
			continue
		}
		for i := range w {
			if w[i] != c.want[i] {
				t.Errorf("%v: got %v, want %v", c.slices, w, c.want)
			}
		}
	}
}
