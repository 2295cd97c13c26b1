// Package sqlfile reads the statement files package sql embeds: each
// directory is parsed once as a set of text/template templates, one per file
// (named after it) plus the fragments the files define, and a statement is a
// file as it is or rendered with the data its template calls read. The store
// (sql/queries) and the generators (sql/synth) share it.
package sqlfile

import (
	"bytes"
	"fmt"
	"io/fs"
	"text/template"
)

// Set is one directory of statement files.
type Set struct {
	fsys fs.FS
	dir  string
	t    *template.Template
}

// Parse parses every dir/*.sql of fsys; a file that does not parse is a bug
// in an embedded file, so it panics.
func Parse(fsys fs.FS, dir string) *Set {
	return &Set{fsys: fsys, dir: dir, t: template.Must(template.New("").ParseFS(fsys, dir+"/*.sql"))}
}

// Text returns a file as it is, for statements without template calls.
func (s *Set) Text(name string) string {
	b, err := fs.ReadFile(s.fsys, s.dir+"/"+name)
	if err != nil {
		panic(fmt.Sprintf("read %s: %v", name, err)) // a bug in an embedded file
	}
	return string(b)
}

// Render executes a file, or a fragment it defines, with data.
func (s *Set) Render(name string, data any) string {
	var b bytes.Buffer
	if err := s.t.ExecuteTemplate(&b, name, data); err != nil {
		panic(fmt.Sprintf("render %s: %v", name, err)) // a bug in an embedded file
	}
	return b.String()
}

// With returns the set's templates with text added as a template of its own
// (named name), for a statement written outside the set that includes its
// fragments; the set is left as it was.
func (s *Set) With(name, text string) (*template.Template, error) {
	t, err := s.t.Clone()
	if err != nil {
		return nil, err
	}
	return t.New(name).Parse(text)
}
