package finance

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/connects/connects-reconciler/reconcile"
)

// Amount is a count of refunds, their Connects and their value.
type Amount struct {
	Refunds  int64           `json:"refunds"`
	Connects int64           `json:"connects"`
	Value    reconcile.Cents `json:"value_usd"`
}

func (a *Amount) add(connects int64, v reconcile.Cents) {
	a.Refunds++
	a.Connects += connects
	a.Value += v
}

func (a *Amount) plus(b Amount) {
	a.Refunds += b.Refunds
	a.Connects += b.Connects
	a.Value += b.Value
}

// summaryKey is one line of the summary: a UTC day (days since 1970-01-01,
// so that no row allocates a string), a rule, a component and an issuer.
type summaryKey struct {
	Day       int64
	Rule      reconcile.Rule
	Component reconcile.Component
	IssuedBy  string
}

func unixDay(t time.Time) int64 {
	s := t.Unix()
	if s < 0 {
		return (s - 86399) / 86400
	}
	return s / 86400
}

func dayString(d int64) string { return time.Unix(d*86400, 0).UTC().Format("2006-01-02") }

// summary aggregates refund entries per day, rule, component and issuer,
// with control totals. It holds one entry per group, never the rows.
type summary struct {
	groups map[summaryKey]*Amount
	total  Amount
	// unmatched: the entries no run matched yet
	unmatched Amount
	byIssuer  map[string]*Amount
	byRule    map[reconcile.Rule]*Amount
}

func newSummary() *summary {
	return &summary{groups: map[summaryKey]*Amount{}, byIssuer: map[string]*Amount{}, byRule: map[reconcile.Rule]*Amount{}}
}

func (s *summary) add(r *reconcile.LedgerRefund, v reconcile.Cents) {
	k := summaryKey{Day: unixDay(r.CreatedAt), Rule: r.Rule, Component: r.Component, IssuedBy: r.IssuedBy}
	get(s.groups, k).add(r.Connects, v)
	get(s.byIssuer, r.IssuedBy).add(r.Connects, v)
	get(s.byRule, r.Rule).add(r.Connects, v)
	s.total.add(r.Connects, v)
	if r.Verdict == reconcile.Unmatched {
		s.unmatched.add(r.Connects, v)
	}
}

// addGroup adds g.Refunds entries of g.Connects Connects each, priced one
// entry at a time as the export's value_usd column is (rounded per entry).
func (s *summary) addGroup(g reconcile.RefundGroup, price reconcile.Price) {
	a := Amount{Refunds: g.Refunds, Connects: g.Refunds * g.Connects, Value: reconcile.Cents(g.Refunds) * price.Value(g.Connects)}
	get(s.groups, summaryKey{Day: g.Day, Rule: g.Rule, Component: g.Component, IssuedBy: g.IssuedBy}).plus(a)
	get(s.byIssuer, g.IssuedBy).plus(a)
	get(s.byRule, g.Rule).plus(a)
	s.total.plus(a)
	if g.Unmatched {
		s.unmatched.plus(a)
	}
}

func get[K comparable](m map[K]*Amount, k K) *Amount {
	a, ok := m[k]
	if !ok {
		a = &Amount{}
		m[k] = a
	}
	return a
}

// ruleRank orders rules by precedence, "no rule" last.
func ruleRank(r reconcile.Rule) int {
	for i, x := range reconcile.Rules {
		if x == r {
			return i
		}
	}
	if r == "" {
		return len(reconcile.Rules) + 1
	}
	return len(reconcile.Rules)
}

func ruleLess(a, b reconcile.Rule) bool {
	if ra, rb := ruleRank(a), ruleRank(b); ra != rb {
		return ra < rb
	}
	return a < b
}

// keys returns the summary's lines in day, rule precedence, component,
// issuer order.
func (s *summary) keys() []summaryKey {
	keys := make([]summaryKey, 0, len(s.groups))
	for k := range s.groups {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		switch {
		case a.Day != b.Day:
			return a.Day < b.Day
		case a.Rule != b.Rule:
			return ruleLess(a.Rule, b.Rule)
		case a.Component != b.Component:
			return a.Component < b.Component
		default:
			return a.IssuedBy < b.IssuedBy
		}
	})
	return keys
}

// Totals are an export's control totals: they equal the sums of the refund
// rows exactly.
type Totals struct {
	Amount
	// Unmatched are the refund entries no run matched yet (inside the
	// settle delay, or committed late): their rule is not decided.
	Unmatched Amount                    `json:"unmatched"`
	ByIssuer  map[string]Amount         `json:"by_issued_by"`
	ByRule    map[reconcile.Rule]Amount `json:"by_rule"`
}

func (s *summary) totals() Totals {
	t := Totals{Amount: s.total, Unmatched: s.unmatched, ByIssuer: map[string]Amount{}, ByRule: map[reconcile.Rule]Amount{}}
	for k, a := range s.byIssuer {
		t.ByIssuer[k] = *a
	}
	for k, a := range s.byRule {
		if k == "" {
			k = "none"
		}
		t.ByRule[k] = *a
	}
	return t
}

// samePrice refuses a closed period at another price than it was closed at:
// its value_usd column would differ from the closed export.
func (f *Finance) samePrice(p Period, closed *reconcile.ClosedPeriod) error {
	if closed == nil || closed.PricePerConnect == f.Price {
		return nil
	}
	return fmt.Errorf("export: the period [%s, %s) was closed at price_per_connect %s; exported at %s its value_usd column would differ from the closed export (sha256 %s): export it with --price-per-connect %s",
		fmtTime(p.From), fmtTime(p.To), closed.PricePerConnect, f.Price, closed.SHA256, closed.PricePerConnect)
}

// streamRefunds streams the period's refund entries with their value to fn
// and returns their summary.
//
// A closed period's rows are checked as they go: they are also written as
// the CSV export into a hash, which must equal the one recorded when the
// period was closed (see checkClosed).
func (f *Finance) streamRefunds(ctx context.Context, p Period, fn func(*reconcile.LedgerRefund, reconcile.Cents) error) (*summary, error) {
	closed, err := f.closedPeriod(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	var digest *csvDigest
	if err := f.samePrice(p, closed); err != nil {
		return nil, err
	}
	if closed != nil {
		if digest, err = newCSVDigest(p, f.Price); err != nil {
			return nil, err
		}
	}
	s := newSummary()
	price := f.Price
	progress := f.Progress.Start("exporting", "refunds", 0)
	defer progress.Done()
	// rows come in created_at order: how far into the period the last one
	// is tells the share done (the period ends at the latest now)
	end := min(p.To.UnixNano(), time.Now().UnixNano())
	span := float64(end - p.From.UnixNano())
	var cur reconcile.LedgerRefund // one row at a time, reused: no allocation per row
	var row refundRow
	err = f.Store.Refunds(ctx, p.From, p.To, func(r reconcile.LedgerRefund) error {
		cur = r
		v := price.Value(cur.Connects)
		s.add(&cur, v)
		progress.Add(1)
		if span > 0 {
			progress.Fraction(float64(cur.CreatedAt.UnixNano()-p.From.UnixNano()) / span)
		}
		if digest != nil {
			row = refundRow{&cur, v}
			if err := writeRow(digest.e, refundTable, &row); err != nil {
				return err
			}
		}
		return fn(&cur, v)
	})
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if closed != nil {
		if err := f.checkClosed(ctx, p, closed, digest, s); err != nil {
			return nil, err
		}
	}
	return s, nil
}
