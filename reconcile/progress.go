package reconcile

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// DefaultProgressInterval is how often long work reports by default.
const DefaultProgressInterval = 5 * time.Second

// liveInterval is how often a live line on a terminal is redrawn (in place:
// it adds no line).
const liveInterval = time.Second

// Progress reports long work (planning, applying, exporting) at a steady
// pace: how much of how much is done, the rate, and an estimate of the time
// left. Either as records on Log ("progress", every Every: JSON logs get
// periodic records), or, when Live is set (a console log on a terminal), as
// one line redrawn in place about every second and erased when the work
// ends. A nil *Progress reports nothing, so callers hook it in without
// checks.
type Progress struct {
	Log *zap.Logger
	// Every is the time between two records; 0 means DefaultProgressInterval.
	Every time.Duration
	// Live, when set, shows the line in place of records; "" erases it.
	Live func(line string)
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Task is one piece of long work being reported. A nil *Task does nothing.
type Task struct {
	p          *Progress
	name, unit string
	start      time.Time
	stop       chan struct{}
	wg         sync.WaitGroup

	mu       sync.Mutex
	total    int64
	done     int64
	fraction float64 // when the total is unknown: the share done, by other means; -1 unknown
	counts   []count
	reported bool // a record or a live line was shown
}

type count struct {
	name string
	n    int64
}

// Start begins reporting task name (planning, applying, exporting), counted
// in unit (proposals, refunds, rows) out of total (0: unknown). Done ends it.
func (p *Progress) Start(name, unit string, total int64) *Task {
	if p == nil {
		return nil
	}
	t := &Task{p: p, name: name, unit: unit, total: total, fraction: -1, start: p.now(), stop: make(chan struct{})}
	every := p.Every
	if every <= 0 {
		every = DefaultProgressInterval
	}
	if p.Live != nil {
		every = min(every, liveInterval)
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		// a timer started after each report, not a ticker: a late tick is
		// never followed by an early one, so reports are at least every
		// apart
		wait := time.NewTimer(every)
		defer wait.Stop()
		for {
			select {
			case <-t.stop:
				return
			case <-wait.C:
				t.report()
				wait.Reset(every)
			}
		}
	}()
	return t
}

func (p *Progress) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// Add counts n more units done.
func (t *Task) Add(n int64) {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.done += n
	t.mu.Unlock()
}

// Count adds n to the task's counter name (e.g. refunds written), shown
// after the main count.
func (t *Task) Count(name string, n int64) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range t.counts {
		if t.counts[i].name == name {
			t.counts[i].n += n
			return
		}
	}
	t.counts = append(t.counts, count{name, n})
}

// Fraction sets the share of the work done (0 to 1) when the total is not
// known in units (an export reaching a point of its period), for the
// estimate of the time left.
func (t *Task) Fraction(f float64) {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.fraction = min(max(f, 0), 1)
	t.mu.Unlock()
}

// Done ends the task: the live line is erased, and when the task was long
// enough to report, one last record says what it did and how fast.
func (t *Task) Done() {
	if t == nil {
		return
	}
	close(t.stop)
	t.wg.Wait()
	t.mu.Lock()
	reported := t.reported
	t.mu.Unlock()
	if !reported {
		return
	}
	if t.p.Live != nil {
		t.p.Live("")
	}
	s := t.snapshot()
	msg := fmt.Sprintf("%s done: %s %s in %s (%s/s)", t.name, group(s.done), t.unit, s.elapsed.Round(100*time.Millisecond), group(int64(math.Round(s.rate))))
	t.log().Info(msg, s.fields(t, true)...)
}

func (t *Task) log() *zap.Logger {
	if t.p.Log == nil {
		return zap.NewNop()
	}
	return t.p.Log
}

// snapshot is the task's state at one moment.
type snapshot struct {
	done, total int64
	counts      []count
	elapsed     time.Duration
	rate        float64       // units per second since the start
	left        time.Duration // -1: unknown
	percent     float64       // -1: unknown
}

func (t *Task) snapshot() snapshot {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := snapshot{done: t.done, total: t.total, counts: append([]count(nil), t.counts...), left: -1, percent: -1}
	s.elapsed = t.p.now().Sub(t.start)
	if sec := s.elapsed.Seconds(); sec > 0 {
		s.rate = float64(t.done) / sec
	}
	frac := t.fraction
	if t.total > 0 {
		frac = min(float64(t.done)/float64(t.total), 1)
	}
	if frac >= 0 {
		s.percent = frac * 100
	}
	if frac > 0 {
		s.left = time.Duration(float64(s.elapsed) * (1 - frac) / frac)
	}
	return s
}

// report shows the task's state: a live line, or a record.
func (t *Task) report() {
	s := t.snapshot()
	t.mu.Lock()
	t.reported = true
	t.mu.Unlock()
	line := s.line(t)
	if t.p.Live != nil {
		t.p.Live(line)
		return
	}
	t.log().Info("progress", s.fields(t, false)...)
}

// line is the state for a person, short enough for 80 columns: "applying
// 12,000 of 66,000 refunds (18%), 11,950 written, 3,000/s, 18s left".
func (s snapshot) line(t *Task) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", t.name, group(s.done))
	if s.total > 0 {
		fmt.Fprintf(&b, " of %s", group(s.total))
	}
	b.WriteString(" " + t.unit)
	if s.percent >= 0 {
		fmt.Fprintf(&b, " (%.0f%%)", math.Floor(s.percent))
	}
	for _, c := range s.counts {
		fmt.Fprintf(&b, ", %s %s", group(c.n), c.name)
	}
	fmt.Fprintf(&b, ", %s/s", group(int64(math.Round(s.rate))))
	if s.left >= 0 {
		fmt.Fprintf(&b, ", %s left", roundLeft(s.left))
	}
	return b.String()
}

// fields are the state as a record's fields, snake_case like every key.
func (s snapshot) fields(t *Task, final bool) []zap.Field {
	f := []zap.Field{zap.String("task", t.name), zap.String("unit", t.unit), zap.Int64("done", s.done)}
	if s.total > 0 {
		f = append(f, zap.Int64("total", s.total))
	}
	if s.percent >= 0 && !final {
		f = append(f, zap.Float64("percent", math.Round(s.percent*10)/10))
	}
	for _, c := range s.counts {
		f = append(f, zap.Int64(c.name, c.n))
	}
	f = append(f, zap.Float64("rate_per_second", math.Round(s.rate)), zap.Float64("elapsed_seconds", math.Round(s.elapsed.Seconds()*10)/10))
	if s.left >= 0 && !final {
		f = append(f, zap.Float64("eta_seconds", math.Round(s.left.Seconds())))
	}
	if !final {
		f = append(f, zap.String("line", s.line(t)))
	}
	return f
}

// roundLeft rounds an estimate to what it is worth: seconds under a minute,
// then minutes: "<1s", "18s", "7m", "2h05m".
func roundLeft(d time.Duration) string {
	switch {
	case d < time.Second:
		return "<1s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int64(d.Round(time.Second)/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int64(d.Round(time.Minute)/time.Minute))
	default:
		m := int64(d.Round(time.Minute) / time.Minute)
		return fmt.Sprintf("%dh%02dm", m/60, m%60)
	}
}

// group writes n with thousands separators: 1,250,000.
func group(n int64) string { return Thousands(strconv.FormatInt(n, 10)) }

// Thousands writes a decimal integer's digits (after an optional minus
// sign) in groups of three: 1,250,000. The one digit grouping of the
// progress lines and the finance report.
func Thousands(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// sliceProposals is how many proposals each slice covers, and their sum:
// an incremental slice its ids; a full sweep's slice batchSize (the store
// cuts each at that many proposals), but the last, which holds at most that
// many: estimated from its span of ids at the density of the others (or one
// per id when it is the only one).
func sliceProposals(slices []Slice, batchSize int64) (weights []int64, total int64) {
	if batchSize <= 0 {
		batchSize = 50000
	}
	weights = make([]int64, len(slices))
	var span, full int64 // ids spanned by the full range slices, and their number
	for i, s := range slices {
		if s.IDs == nil && i < len(slices)-1 {
			span += s.Hi - s.Lo
			full++
		}
	}
	for i, s := range slices {
		switch {
		case s.IDs != nil:
			weights[i] = int64(len(s.IDs))
		case i < len(slices)-1:
			weights[i] = batchSize
		case full > 0 && span > 0:
			weights[i] = min(batchSize, max(1, int64(float64(s.Hi-s.Lo)*float64(full*batchSize)/float64(span))))
		default:
			weights[i] = min(batchSize, max(1, s.Hi-s.Lo))
		}
		total += weights[i]
	}
	return weights, total
}
