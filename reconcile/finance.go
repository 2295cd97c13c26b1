package reconcile

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Price is an exact amount of US dollars per Connect, in hundredths of a
// cent (ten-thousandths of a dollar): 0.15 is Price(1500). Money is integers
// all the way; it never passes through a float.
type Price int64

// priceScale is how many Price units make a dollar.
const priceScale = 10000

// MaxPrice bounds a price so that every product with a Connects count fits
// an int64 with room to spare.
const MaxPrice = Price(1000 * priceScale)

// DefaultPrice is the price of a Connect unless configured: $0.15.
const DefaultPrice = Price(1500)

// ParsePrice reads a non-negative decimal number of dollars with at most four
// decimal places, like "0.15" or "1": no sign, exponent or thousands
// separator.
func ParsePrice(s string) (Price, error) {
	whole, frac, hasPoint := strings.Cut(s, ".")
	if whole == "" || !digits(whole) || !digits(frac) || (hasPoint && frac == "") {
		return 0, fmt.Errorf("not a decimal number of dollars like 0.15: %q", s)
	}
	if len(frac) > 4 {
		return 0, fmt.Errorf("at most 4 decimal places (hundredths of a cent), got %q", s)
	}
	if len(whole) > 5 {
		return 0, fmt.Errorf("must be at most %s, got %q", MaxPrice, s)
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("not a decimal number of dollars like 0.15: %q", s)
	}
	f := int64(0)
	if frac != "" {
		f, _ = strconv.ParseInt(frac+strings.Repeat("0", 4-len(frac)), 10, 64)
	}
	p := Price(w*priceScale + f)
	if p > MaxPrice {
		return 0, fmt.Errorf("must be at most %s, got %q", MaxPrice, s)
	}
	return p, nil
}

func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// String is the price in dollars with two to four decimal places: "0.15",
// "1.00", "0.1234".
func (p Price) String() string {
	s := fmt.Sprintf("%d.%04d", int64(p)/priceScale, int64(p)%priceScale)
	for strings.HasSuffix(s, "0") && len(s)-strings.IndexByte(s, '.') > 3 {
		s = s[:len(s)-1]
	}
	return s
}

// MarshalText encodes the price as its decimal string.
func (p Price) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText reads a price written by MarshalText or by a person.
func (p *Price) UnmarshalText(b []byte) error {
	v, err := ParsePrice(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// Value is what connects Connects are worth at this price, in whole cents.
// When the price has more than two decimal places the product is rounded to
// the cent, half away from zero; at two places (like 0.15) it is exact.
func (p Price) Value(connects int64) Cents {
	v := connects * int64(p) // hundredths of a cent
	if v >= 0 {
		return Cents((v + 50) / 100)
	}
	return Cents(-((-v + 50) / 100))
}

// Cents is an exact amount of US dollars in cents.
type Cents int64

// String is the amount with exactly two decimal places: "12.30", "-0.05".
func (c Cents) String() string {
	sign := ""
	v := int64(c)
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
}

// MarshalText encodes the amount as its decimal string, so that JSON carries
// "12.30" and no reader turns it into a float by accident.
func (c Cents) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText reads an amount written by MarshalText.
func (c *Cents) UnmarshalText(b []byte) error {
	s := string(b)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, ok := strings.Cut(s, ".")
	if !ok || len(frac) != 2 || whole == "" || !digits(whole) || !digits(frac) {
		return fmt.Errorf("not an amount with two decimal places: %q", string(b))
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return fmt.Errorf("amount out of range: %q", string(b))
	}
	f, _ := strconv.ParseInt(frac, 10, 64)
	v := w*100 + f
	if neg {
		v = -v
	}
	*c = Cents(v)
	return nil
}

// LedgerRefund is one refund entry of the Connects ledger as finance sees it:
// who issued it and which rule entitles it.
type LedgerRefund struct {
	EntryID      int64
	CreatedAt    time.Time
	FreelancerID int64 // the account credited
	ProposalID   int64
	JobID        int64 // 0 when the proposal is unknown
	Component    Component
	Connects     int64
	// IssuedBy is "reconciler" (written by this job: a reconciler_refunds
	// row exists) or "online" (anyone else, usually the marketplace's
	// online path), as the match recorded it.
	IssuedBy string
	// Rule is the rule of the entry's match: for the job's refunds the rule
	// it wrote them under; for the others the rule the policy assigned when
	// a run first saw the entry settled; "" when none entitled it (such a
	// refund is also a discrepancy) or the entry is not matched yet.
	Rule           Rule
	RunID          string // the job's run that wrote it, or ""
	IdempotencyKey string
	// Verdict is the match's: "refunded", a discrepancy kind, or Unmatched.
	Verdict string
	// AdjustsPeriod, on an entry created later with a timestamp inside a
	// closed period, names that period ("from/to", RFC 3339): the entry is
	// an adjustment of the period exported. "" for the period's own entries.
	AdjustsPeriod string
}

// RefundGroup is a group of a period's refund entries, as the finance
// report sums them (the refunds export's rows, summed by the database): the
// entries of one UTC day with one rule, component, issuer and matched state,
// each of Connects Connects.
type RefundGroup struct {
	Day       int64 // the entries' created_at: days since 1970-01-01, UTC
	Rule      Rule
	Component Component
	IssuedBy  string
	Unmatched bool  // Verdict Unmatched
	Connects  int64 // of each entry
	Refunds   int64 // how many entries
}

// Unmatched is the verdict of a refund entry no run matched yet: inside the
// settle delay, or committed later than its timestamp says.
const Unmatched = "unmatched"

// RunSummary is one recorded applying run, as finance reports it.
type RunSummary struct {
	ID              string     `json:"id"`
	Mode            string     `json:"mode"`
	Scope           string     `json:"scope"`
	Shard           string     `json:"shard,omitempty"`
	Status          string     `json:"status"`
	StartedAt       time.Time  `json:"started_at"`
	FinishedAt      *time.Time `json:"finished_at,omitempty"`
	RefundsPlanned  int64      `json:"refunds_planned"`
	ConnectsPlanned int64      `json:"connects_planned"`
	RefundsIssued   int64      `json:"refunds_issued"`
	ConnectsIssued  int64      `json:"connects_issued"`
	RefundsSkipped  int64      `json:"refunds_skipped"`
	Discrepancies   int64      `json:"discrepancies"`
	Error           string     `json:"error,omitempty"`
}

// ClosedPeriod is a period finance closed (reconciler_closed_periods): its
// refunds export in CSV had Rows rows, Connects in all, and SHA256; it held
// exactly the entries recorded with it, so exporting it again reproduces it
// byte for byte or fails naming what changed.
type ClosedPeriod struct {
	ID              int64     `json:"id"`
	From            time.Time `json:"from"`
	To              time.Time `json:"to"`
	ClosedAt        time.Time `json:"closed_at"`
	ClosedBy        string    `json:"closed_by"`
	Rows            int64     `json:"rows"`
	Connects        int64     `json:"connects"`
	SHA256          string    `json:"sha256"`
	PricePerConnect Price     `json:"price_per_connect"`
}

// PeriodDigest is what closing a period records of its export.
type PeriodDigest struct {
	Rows, Connects int64
	SHA256         string
}

// Changes under a closed period (PeriodChange.Change).
const (
	ChangeDeleted = "deleted" // one of its entries is no longer a refund entry of the ledger
	ChangeChanged = "changed" // one of its entries says something else than when it was matched
	ChangeLate    = "late"    // a refund entry created later with a timestamp inside it: an adjustment elsewhere
)

// PeriodChange is one thing that changed in the ledger under a closed period.
type PeriodChange struct {
	Change  string
	EntryID int64
	Detail  string
}

// PeriodError is a problem with a period finance asked for: one that
// overlaps a closed period without being it, or is closed already (Later
// false: the request is wrong), or that cannot be closed yet (Later: it has
// not ended, or refunds before its end are not matched yet).
type PeriodError struct {
	Msg   string
	Later bool
}

func (e *PeriodError) Error() string { return e.Msg }
