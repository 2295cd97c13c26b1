package finance

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/connects/connects-reconciler/reconcile"
)

// exceptionJSON is one exception in the JSON listing.
type exceptionJSON struct {
	reconcile.Exception
	AgeSeconds   int64 `json:"age_seconds"`
	Acknowledged bool  `json:"acknowledged"`
}

// WriteExceptions writes the exceptions list streams to w, as "table" (for
// a person, with a count) or "json" (one object, the exceptions streamed into
// its array, with the time their ages are counted to). list calls fn for each
// exception and returns that time.
func WriteExceptions(out io.Writer, format string, list func(fn func(reconcile.Exception, time.Time) error) (time.Time, error)) error {
	w := bufio.NewWriter(out)
	if format == "json" {
		first := true
		w.WriteString(`{"exceptions":[`)
		now, err := list(func(e reconcile.Exception, now time.Time) error {
			if !first {
				w.WriteString(",")
			}
			first = false
			b, err := json.Marshal(exceptionJSON{Exception: e, AgeSeconds: int64(e.Age(now) / time.Second), Acknowledged: e.Acknowledged()})
			if err != nil {
				return err
			}
			_, err = w.Write(b)
			return err
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "],\"as_of\":%q}\n", now.Format(time.RFC3339Nano))
		return w.Flush()
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATE\tKIND\tPROPOSAL\tCOMPONENT\tFREELANCER\tFIRST SEEN\tAGE\tREOPENED\tACKED BY\tACKED AT\tNOTE")
	var n int
	_, err := list(func(e reconcile.Exception, now time.Time) error {
		n++
		by, at, note := "-", "-", "-"
		if e.Ack != nil {
			by, at, note = e.Ack.By, e.Ack.At.Format("2006-01-02 15:04Z"), oneLine(e.Ack.Note, 60)
			if !e.Acknowledged() {
				note += " (before it reopened)"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\t%s\t%d\t%s\t%s\t%s\n", e.State, e.Kind, e.ProposalID, e.Component, e.FreelancerID,
			e.FirstSeenAt.Format("2006-01-02 15:04Z"), HumanAge(e.Age(now)), e.ReopenedCount, by, at, note)
		return nil
	})
	if err != nil {
		return err
	}
	tw.Flush()
	fmt.Fprintf(w, "%d exceptions\n", n)
	return w.Flush()
}

// oneLine folds s to one line of at most max runes.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return s
}
