package finance

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"sort"
	"strings"
	"time"

	"github.com/connects/connects-reconciler/reconcile"
)

// PeriodStore is what closing periods needs from the database, beside
// Store; reconcile/postgres.Store implements it. A Store without it knows no
// closed periods.
type PeriodStore interface {
	// ClosedPeriod returns the closed period [from, to), nil when it is not
	// closed, or a *reconcile.PeriodError when it overlaps one without being it.
	ClosedPeriod(ctx context.Context, from, to time.Time) (*reconcile.ClosedPeriod, error)
	// ClosePeriod closes [from, to) in one transaction: digest reads the
	// period's refunds export (each streams its rows) and returns what is
	// recorded of it.
	ClosePeriod(ctx context.Context, from, to time.Time, by string, price reconcile.Price,
		digest func(each func(fn func(reconcile.LedgerRefund) error) error) (reconcile.PeriodDigest, error)) (*reconcile.ClosedPeriod, error)
	// ClosedPeriodChanges names what changed under a closed period since
	// it was closed (the first few), with how many changes of each kind.
	ClosedPeriodChanges(ctx context.Context, id int64) ([]reconcile.PeriodChange, map[string]int64, error)
}

func (f *Finance) closedPeriod(ctx context.Context, p Period) (*reconcile.ClosedPeriod, error) {
	ps, ok := f.Store.(PeriodStore)
	if !ok {
		return nil, nil
	}
	return ps.ClosedPeriod(ctx, p.From, p.To)
}

// csvDigest is the refunds export in CSV, written into a hash only.
type csvDigest struct {
	h  hash.Hash
	bw *bufio.Writer
	e  *encoder
}

func newCSVDigest(p Period, price reconcile.Price) (*csvDigest, error) {
	d := &csvDigest{h: sha256.New()}
	d.bw = bufio.NewWriterSize(d.h, 1<<16)
	d.e = newEncoder(FormatCSV, d.bw)
	if err := d.e.begin(KindRefunds, &p, price, refundTable.names()); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *csvDigest) sum() (string, error) {
	if err := d.bw.Flush(); err != nil {
		return "", err
	}
	return hex.EncodeToString(d.h.Sum(nil)), nil
}

// ClosedPeriodError says that a closed period's export would differ from
// the one recorded when it was closed, and what changed underneath.
type ClosedPeriodError struct {
	Period  reconcile.ClosedPeriod
	SHA256  string // what the export would be now
	Changes []reconcile.PeriodChange
	Totals  map[string]int64
}

func (e *ClosedPeriodError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the closed period [%s, %s) (closed %s by %s) no longer exports as it was closed: sha256 %s, closed with %s",
		fmtTime(e.Period.From), fmtTime(e.Period.To), fmtTime(e.Period.ClosedAt), e.Period.ClosedBy, e.SHA256, e.Period.SHA256)
	kinds := make([]string, 0, len(e.Totals))
	for k := range e.Totals {
		if k != reconcile.ChangeLate {
			kinds = append(kinds, k)
		}
	}
	sort.Strings(kinds)
	if len(kinds) == 0 {
		b.WriteString("; no deleted or changed entry found: the difference is in what the ledger's other tables say of its entries")
	}
	for _, k := range kinds {
		fmt.Fprintf(&b, "; %d entries %s underneath", e.Totals[k], k)
	}
	for _, c := range e.Changes {
		if c.Change != reconcile.ChangeLate {
			fmt.Fprintf(&b, "; entry %d %s (%s)", c.EntryID, c.Change, c.Detail)
		}
	}
	b.WriteString(". A closed period is never exported otherwise: correct the ledger, or book the change as an adjustment in an open period")
	return b.String()
}

// checkClosed compares a closed period's export, as just streamed, with the
// one recorded when it was closed.
func (f *Finance) checkClosed(ctx context.Context, p Period, closed *reconcile.ClosedPeriod, d *csvDigest, s *summary) error {
	sum, err := d.sum()
	if err != nil {
		return err
	}
	if sum == closed.SHA256 && s.total.Refunds == closed.Rows && s.total.Connects == closed.Connects {
		return nil
	}
	e := &ClosedPeriodError{Period: *closed, SHA256: sum}
	if ps, ok := f.Store.(PeriodStore); ok {
		if e.Changes, e.Totals, err = ps.ClosedPeriodChanges(ctx, closed.ID); err != nil {
			return fmt.Errorf("%w (and naming the changes failed: %w)", e, err)
		}
	}
	return e
}

// ClosePeriod records the period p as closed by `by`: its refunds export in
// CSV (rows, Connects, sha256, at f.Price) and the entries it holds, in one
// transaction. The export of p is from then on that very file, or fails
// naming what changed.
func (f *Finance) ClosePeriod(ctx context.Context, p Period, by string) (*reconcile.ClosedPeriod, error) {
	ps, ok := f.Store.(PeriodStore)
	if !ok {
		return nil, fmt.Errorf("close period: this store cannot close periods")
	}
	return ps.ClosePeriod(ctx, p.From, p.To, by, f.Price, func(each func(fn func(reconcile.LedgerRefund) error) error) (reconcile.PeriodDigest, error) {
		d, err := newCSVDigest(p, f.Price)
		if err != nil {
			return reconcile.PeriodDigest{}, err
		}
		var out reconcile.PeriodDigest
		var row refundRow
		err = each(func(r reconcile.LedgerRefund) error {
			row = refundRow{&r, f.Price.Value(r.Connects)}
			out.Rows++
			out.Connects += r.Connects
			return writeRow(d.e, refundTable, &row)
		})
		if err != nil {
			return out, err
		}
		out.SHA256, err = d.sum()
		return out, err
	})
}
