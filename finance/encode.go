package finance

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/connects/connects-reconciler/reconcile"
)

// Formats of an export.
const (
	FormatCSV  = "csv"  // RFC 4180: a header row, CRLF line ends, quoting only where needed
	FormatJSON = "json" // one object: kind, period, price_per_connect, columns, rows, totals
)

// utf8BOM is the UTF-8 byte order mark: Excel reads a CSV file as UTF-8
// only when it begins with one (accented names show garbled otherwise).
const utf8BOM = "\xef\xbb\xbf"

// encoder writes an export's rows as CSV or JSON as they come: one buffer,
// reused for every row, and one Write per row.
type encoder struct {
	json bool
	bom  bool // CSV: begin with a UTF-8 byte order mark (Excel)
	w    io.Writer
	buf  []byte
	rows int64
}

func newEncoder(format string, w io.Writer) *encoder {
	return &encoder{json: format == FormatJSON, w: w, buf: make([]byte, 0, 512)}
}

func (e *encoder) flush() error {
	_, err := e.w.Write(e.buf)
	e.buf = e.buf[:0]
	if err != nil {
		return fmt.Errorf("export: write: %w", err)
	}
	return nil
}

// begin writes the CSV header, or the JSON object's head up to its rows.
func (e *encoder) begin(kind Kind, p *Period, price reconcile.Price, columns []string) error {
	if !e.json {
		if e.bom {
			e.buf = append(e.buf, utf8BOM...)
		}
		for i, c := range columns {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.buf = appendCSVText(e.buf, c)
		}
		e.buf = append(e.buf, '\r', '\n')
		return e.flush()
	}
	head := struct {
		Kind    Kind            `json:"kind"`
		Period  *Period         `json:"period,omitempty"`
		Price   reconcile.Price `json:"price_per_connect"`
		Columns []string        `json:"columns"`
	}{kind, p, price, columns}
	b, err := json.Marshal(head)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	e.buf = append(e.buf, b[:len(b)-1]...)
	e.buf = append(e.buf, `,"rows":[`...)
	return e.flush()
}

// writeRow writes one row of table t: a CSV record, or a JSON object with
// the columns as keys, in order.
func writeRow[R any](e *encoder, t table[R], r *R) error {
	if e.json {
		if e.rows > 0 {
			e.buf = append(e.buf, ',')
		}
		e.buf = append(e.buf, '\n', '{')
		for i, c := range t {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.buf = append(e.buf, '"')
			e.buf = append(e.buf, c.name...)
			e.buf = append(e.buf, '"', ':')
			e.buf = c.cell(r).appendJSON(e.buf)
		}
		e.buf = append(e.buf, '}')
	} else {
		for i, c := range t {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.buf = c.cell(r).appendCSV(e.buf)
		}
		e.buf = append(e.buf, '\r', '\n')
	}
	e.rows++
	return e.flush()
}

// footer writes a CSV-only last line (the summary's control totals); JSON
// carries them in "totals".
func writeFooter[R any](e *encoder, t table[R], r *R) error {
	if e.json {
		return nil
	}
	rows := e.rows
	err := writeRow(e, t, r)
	e.rows = rows
	return err
}

// end closes the JSON object with the totals.
func (e *encoder) end(totals any) error {
	if !e.json {
		return nil
	}
	b, err := json.Marshal(totals)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	e.buf = append(e.buf, "\n],\"totals\":"...)
	e.buf = append(e.buf, b...)
	e.buf = append(e.buf, '}', '\n')
	return e.flush()
}
