package finance

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/connects/connects-reconciler/reconcile"
)

// A row type is described once, by a table of columns: each column's name
// and the cell it reads from a row. The CSV writer and the JSON writer both
// render the same cells, so the header, the CSV record and the JSON object
// cannot drift apart.
type column[R any] struct {
	name string
	cell func(*R) cell
}

type table[R any] []column[R]

func (t table[R]) names() []string {
	out := make([]string, len(t))
	for i, c := range t {
		out[i] = c.name
	}
	return out
}

// cellKind says how a cell is written in CSV and in JSON.
type cellKind uint8

const (
	cellInt   cellKind = iota // a number in both
	cellID                    // a number; empty in CSV when 0 (no such row)
	cellText                  // text; a JSON string
	cellMoney                 // reconcile.Cents: "1.50", a JSON string so no reader makes it a float
	cellTime                  // TimeLayout; a JSON string
	cellNull                  // empty in CSV, null in JSON
)

// cell is one value of a row: a small value, built without allocating.
type cell struct {
	kind cellKind
	n    int64
	s    string
	t    time.Time
}

func intCell(n int64) cell             { return cell{kind: cellInt, n: n} }
func idCell(n int64) cell              { return cell{kind: cellID, n: n} }
func textCell(s string) cell           { return cell{kind: cellText, s: s} }
func moneyCell(c reconcile.Cents) cell { return cell{kind: cellMoney, n: int64(c)} }
func timeCell(t time.Time) cell        { return cell{kind: cellTime, t: t} }
func optTimeCell(t *time.Time) cell    { return optCell(t, timeCell) }
func optIntCell(n *int64) cell         { return optCell(n, intCell) }
func optCell[T any](v *T, f func(T) cell) cell {
	if v == nil {
		return cell{kind: cellNull}
	}
	return f(*v)
}

// appendCents appends c with exactly two decimals, as reconcile.Cents.String.
func appendCents(b []byte, c int64) []byte {
	if c < 0 {
		b = append(b, '-')
		c = -c
	}
	b = strconv.AppendInt(b, c/100, 10)
	b = append(b, '.', byte('0'+c%100/10), byte('0'+c%10))
	return b
}

// appendCSV appends the cell as one CSV field, quoted as encoding/csv
// quotes it with UseCRLF (RFC 4180).
func (c cell) appendCSV(b []byte) []byte {
	switch c.kind {
	case cellInt:
		return strconv.AppendInt(b, c.n, 10)
	case cellID:
		if c.n == 0 {
			return b
		}
		return strconv.AppendInt(b, c.n, 10)
	case cellMoney:
		return appendCents(b, c.n)
	case cellTime:
		return c.t.UTC().AppendFormat(b, TimeLayout)
	case cellNull:
		return b
	default:
		return appendCSVText(b, neutralize(c.s))
	}
}

// neutralize defuses spreadsheet formula injection (OWASP "CSV injection"):
// a text cell that begins with =, +, -, @, a tab or a CR is one Excel, Calc
// and Sheets may evaluate as a formula (an acknowledgement note
// `=HYPERLINK(...)`), so it gets a leading apostrophe, which spreadsheets
// show as text and hide. Numbers, amounts and times are not text cells and
// are written as they are; JSON is not touched.
func neutralize(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

// appendJSON appends the cell as a JSON value, as encoding/json encodes it.
func (c cell) appendJSON(b []byte) []byte {
	switch c.kind {
	case cellInt, cellID:
		return strconv.AppendInt(b, c.n, 10)
	case cellMoney:
		return append(appendCents(append(b, '"'), c.n), '"')
	case cellTime:
		return append(c.t.UTC().AppendFormat(append(b, '"'), TimeLayout), '"')
	case cellNull:
		return append(b, "null"...)
	default:
		return appendJSONString(b, c.s)
	}
}

// appendCSVText follows encoding/csv: a field is quoted when it holds a
// comma, quote, CR or LF, is `\.`, or starts with a space; inside quotes a
// quote is doubled, and with UseCRLF a CR is dropped and an LF written CRLF.
func appendCSVText(b []byte, s string) []byte {
	if !csvNeedsQuotes(s) {
		return append(b, s...)
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			b = append(b, '"', '"')
		case '\r':
		case '\n':
			b = append(b, '\r', '\n')
		default:
			b = append(b, s[i])
		}
	}
	return append(b, '"')
}

func csvNeedsQuotes(s string) bool {
	if s == "" {
		return false
	}
	if s == `\.` {
		return true
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\n', '\r', '"', ',':
			return true
		}
	}
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsSpace(r)
}

// appendJSONString writes plain ASCII directly and leaves anything
// encoding/json would escape (quotes, control characters, <, >, &, non-ASCII)
// to encoding/json, so the bytes are the same.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
