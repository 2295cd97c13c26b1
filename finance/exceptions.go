package finance

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/connects/connects-reconciler/reconcile"
)

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
			b, err := json.Marshal(e.JSON(now))
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
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\t%s\t%d\t%s\t%s\t%s\n", e.Status, e.State, e.ProposalID, e.Component, e.FreelancerID,
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

// ExceptionKindNames lists the kinds an exception can have, for flag help and
// messages.
func ExceptionKindNames() string { return reconcile.JoinStates(reconcile.DiscrepancyStates) }

// ParseAge reads an age: Go durations (36h, 90m) or whole days (7d).
func ParseAge(v string) (time.Duration, error) {
	bad := fmt.Errorf("--older-than must be a number of days like 7d or a duration like 36h, got %q", v)
	if d, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 || n > 36500 {
			return 0, bad
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	t, err := time.ParseDuration(v)
	if err != nil || t < 0 {
		return 0, bad
	}
	return t, nil
}

// ExceptionQuery is what a listing of exceptions asks for, as given on the
// command line: a state (open, closed, all), a kind ("" for all), a minimum
// age ("" for any) and a format (table, json).
type ExceptionQuery struct {
	State, Kind, OlderThan, Format string
}

// Filter checks the query and makes its filter; problems name every
// mistake, in the order of the fields.
func (q ExceptionQuery) Filter() (f reconcile.ExceptionFilter, problems []string) {
	f.Kind = reconcile.State(q.Kind)
	switch q.State {
	case reconcile.ExceptionOpen, reconcile.ExceptionClosed:
		f.State = q.State
	case "all":
	default:
		problems = append(problems, fmt.Sprintf("--state must be open, closed or all, got %q", q.State))
	}
	problems = append(problems, kindProblems(q.Kind)...)
	if q.OlderThan != "" {
		d, err := ParseAge(q.OlderThan)
		if err != nil {
			problems = append(problems, err.Error())
		}
		f.OlderThan = d
	}
	if q.Format != "table" && q.Format != "json" {
		problems = append(problems, fmt.Sprintf("--format must be table or json, got %q", q.Format))
	}
	return f, problems
}

// kindProblems says what is wrong with an exception kind given ("" for
// none).
func kindProblems(kind string) []string {
	if kind != "" && !reconcile.State(kind).Discrepancy() {
		return []string{fmt.Sprintf("--kind must be one of %s, got %q", ExceptionKindNames(), kind)}
	}
	return nil
}

// AckRequest is a person's acknowledgement of an exception, as given on the
// command line; Kind is needed only when the component has several.
type AckRequest struct {
	ProposalID      int64
	Component, Kind string
	Note, By        string
}

// Problems names every mistake in the request, in the order of its fields.
func (a AckRequest) Problems() []string {
	var problems []string
	if a.ProposalID <= 0 {
		problems = append(problems, "--proposal is required (a positive id)")
	}
	if a.Component != string(reconcile.Base) && a.Component != string(reconcile.Boost) {
		problems = append(problems, fmt.Sprintf("--component must be base or boost, got %q", a.Component))
	}
	problems = append(problems, kindProblems(a.Kind)...)
	if strings.TrimSpace(a.Note) == "" {
		problems = append(problems, "--note is required")
	}
	if strings.TrimSpace(a.By) == "" {
		problems = append(problems, "--by is required")
	}
	return problems
}

// WriteAck says that e was acknowledged, in one line.
func WriteAck(w io.Writer, e reconcile.Exception) {
	fmt.Fprintf(w, "acknowledged %s (%s since %s) by %s at %s: %s\n", e.Key(), e.Status,
		e.OpenSince.Format(time.RFC3339), e.Ack.By, e.Ack.At.Format(time.RFC3339), e.Ack.Note)
}
