package service

import (
	"io"
	"strconv"
	"sync"
	"unicode/utf8"
)

// eraseLine returns the cursor to the start of the line and clears it.
const eraseLine = "\r\x1b[K"

// liveLine is stderr on a terminal, shared by the logger and one live
// progress line: a log record erases the line, is written, and the line is
// drawn again below it, so records and the line never mix.
type liveLine struct {
	mu    sync.Mutex
	w     io.Writer
	line  string
	width int // the line is cut to this many characters so it never wraps
}

func newLiveLine(w io.Writer, getenv func(string) string) *liveLine {
	width := 80
	if n, err := strconv.Atoi(getenv("COLUMNS")); err == nil && n > 20 {
		width = n
	}
	return &liveLine{w: w, width: width - 1}
}

// Write writes a log record under the live line.
func (l *liveLine) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.line != "" {
		io.WriteString(l.w, eraseLine)
	}
	n, err := l.w.Write(p)
	if l.line != "" {
		io.WriteString(l.w, l.line)
	}
	return n, err
}

// Sync is for zapcore.WriteSyncer.
func (l *liveLine) Sync() error { return nil }

// Show draws line in place of the previous one; "" erases it.
func (l *liveLine) Show(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if utf8.RuneCountInString(line) > l.width {
		line = string([]rune(line)[:l.width-1]) + "…"
	}
	io.WriteString(l.w, eraseLine+line)
	l.line = line
}
