package reconcile

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"time"
)

// spoolMemory is how many records a spool keeps in memory before it moves
// them to a temporary file: small plans never touch the disk, a backlog of
// any size costs the same memory.
const spoolMemory = 4096

// spool keeps verdicts in the order they were added: the first spoolMemory
// in memory, the rest in an unlinked temporary file. It can be read any number
// of times; it is not safe for concurrent use.
type spool struct {
	mem     []Verdict
	file    *os.File
	w       *bufio.Writer
	size    int64 // bytes written to file
	n       int64
	buf     []byte
	err     error   // the first write error; every later call returns it
	last    Verdict // proposal and component of the last one added
	hasLast bool
}

// add appends one verdict.
func (s *spool) add(f Verdict) error {
	if s.err != nil {
		return s.err
	}
	if s.hasLast && !lessPC(s.last.ProposalID, s.last.Component, f.ProposalID, f.Component) {
		return fmt.Errorf("%w: %d/%s after %d/%s", ErrOutOfOrder, f.ProposalID, f.Component, s.last.ProposalID, s.last.Component)
	}
	s.last, s.hasLast = Verdict{ProposalID: f.ProposalID, Component: f.Component}, true
	s.n++
	if s.file == nil && len(s.mem) < spoolMemory {
		s.mem = append(s.mem, f)
		return nil
	}
	if s.file == nil {
		if s.err = s.spill(); s.err != nil {
			return s.err
		}
	}
	s.buf = appendVerdict(s.buf[:0], f)
	n, err := s.w.Write(s.buf)
	s.size += int64(n)
	if err != nil {
		s.err = fmt.Errorf("spool: %w", err)
	}
	return s.err
}

// spill moves the records in memory to a new temporary file, in os.TempDir
// (TMPDIR).
func (s *spool) spill() error {
	f, err := os.CreateTemp("", "connects-reconciler-spool-")
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	// Unlinked at once: the open file lives until it is closed or the
	// process ends, however it ends.
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return fmt.Errorf("spool: %w", err)
	}
	s.file, s.w = f, bufio.NewWriterSize(f, 256<<10)
	for _, m := range s.mem {
		s.buf = appendVerdict(s.buf[:0], m)
		n, err := s.w.Write(s.buf)
		s.size += int64(n)
		if err != nil {
			return fmt.Errorf("spool: %w", err)
		}
	}
	s.mem = nil
	return nil
}

// len is the number of verdicts added.
func (s *spool) len() int64 { return s.n }

// each calls fn for every verdict in order, stopping at fn's first error.
func (s *spool) each(fn func(Verdict) error) error {
	if s.err != nil {
		return s.err
	}
	if s.file == nil {
		for _, f := range s.mem {
			if err := fn(f); err != nil {
				return err
			}
		}
		return nil
	}
	if err := s.w.Flush(); err != nil {
		s.err = fmt.Errorf("spool: %w", err)
		return s.err
	}
	r := bufio.NewReaderSize(io.NewSectionReader(s.file, 0, s.size), 256<<10)
	for {
		f, err := readVerdict(r)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		if err := fn(f); err != nil {
			return err
		}
	}
}

// close frees the spool's file.
func (s *spool) close() {
	if s.file != nil {
		s.file.Close()
	}
	s.mem, s.file, s.w = nil, nil, nil
}

// appendVerdict encodes a verdict: varints and length-prefixed strings.
func appendVerdict(b []byte, f Verdict) []byte {
	b = binary.AppendVarint(b, f.ProposalID)
	b = binary.AppendVarint(b, f.JobID)
	b = binary.AppendVarint(b, f.FreelancerID)
	b = binary.AppendVarint(b, f.Charged)
	b = binary.AppendVarint(b, f.Refunded)
	b = binary.AppendVarint(b, f.LedgerEntryID)
	b = binary.AppendVarint(b, f.RefundedTo)
	if f.EventAt == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = binary.AppendVarint(b, f.EventAt.UnixNano())
	}
	for _, s := range []string{string(f.Component), string(f.Rule), string(f.State)} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendVarint(b, f.MatchEntryID)
	if f.MatchEntryID != 0 {
		b = binary.AppendVarint(b, f.MatchEntryAt.UnixNano())
	}
	return b
}

// readVerdict decodes what appendVerdict wrote; io.EOF at a record boundary.
func readVerdict(r *bufio.Reader) (Verdict, error) {
	var f Verdict
	var err error
	ints := []*int64{&f.ProposalID, &f.JobID, &f.FreelancerID, &f.Charged, &f.Refunded, &f.LedgerEntryID, &f.RefundedTo}
	for i, p := range ints {
		if *p, err = binary.ReadVarint(r); err != nil {
			if i > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return f, err
		}
	}
	has, err := r.ReadByte()
	if err != nil {
		return f, io.ErrUnexpectedEOF
	}
	if has == 1 {
		ns, err := binary.ReadVarint(r)
		if err != nil {
			return f, io.ErrUnexpectedEOF
		}
		t := time.Unix(0, ns).UTC()
		f.EventAt = &t
	}
	var strs [3]string
	var scratch [64]byte
	for i := range strs {
		n, err := binary.ReadUvarint(r)
		if err != nil {
			return f, io.ErrUnexpectedEOF
		}
		b := scratch[:0]
		if n > uint64(len(scratch)) {
			b = make([]byte, n)
		}
		b = b[:n]
		if _, err := io.ReadFull(r, b); err != nil {
			return f, io.ErrUnexpectedEOF
		}
		strs[i] = Intern(b)
	}
	f.Component, f.Rule, f.State = Component(strs[0]), Rule(strs[1]), State(strs[2])
	if f.MatchEntryID, err = binary.ReadVarint(r); err != nil {
		return f, io.ErrUnexpectedEOF
	}
	if f.MatchEntryID != 0 {
		ns, err := binary.ReadVarint(r)
		if err != nil {
			return f, io.ErrUnexpectedEOF
		}
		f.MatchEntryAt = time.Unix(0, ns).UTC()
	}
	return f, nil
}

// known holds the names a verdict carries (components, rules, classes and
// discrepancy kinds), so that reading one back allocates no string. Taken
// from Rules and DiscrepancyStates, so a new rule or kind is known here
// without a change.
var known = func() map[string]string {
	names := []string{string(Base), string(Boost), string(MissingRefund), string(PendingRefund)}
	for _, r := range Rules {
		names = append(names, string(r))
	}
	for _, s := range DiscrepancyStates {
		names = append(names, string(s))
	}
	m := map[string]string{}
	for _, s := range names {
		m[s] = s
	}
	return m
}()

// Intern returns b as a string, without allocating when it is one of the
// names a verdict carries (a store scanning many rows uses it too). Safe for
// concurrent use.
func Intern(b []byte) string { return Interner(nil).Intern(b) }

// Interner returns one string per distinct value of columns with few values
// (names, run ids), so that a row costs no allocation for them: the names a
// verdict carries, and up to 4,096 others it has seen. The one interner of
// the spools and the stores; a nil Interner keeps only the names. Not safe
// for concurrent use unless nil.
type Interner map[string]string

// Intern returns b as a string, the same string for the same bytes.
func (in Interner) Intern(b []byte) string {
	if v, ok := in[string(b)]; ok { // no allocation for the lookup
		return v
	}
	v, ok := known[string(b)]
	if !ok {
		v = string(b)
	}
	if in != nil && len(in) < 4096 {
		in[v] = v
	}
	return v
}

// errStopMerge stops reading the second spool of a merge early.
var errStopMerge = errors.New("merge stopped")

// mergeSpools calls fn for the verdicts of a and b, both in proposal,
// component order, in that order. b is read alongside a, one verdict at a
// time.
func mergeSpools(a, b *spool, fn func(Verdict) error) error {
	if b.len() == 0 {
		return a.each(fn)
	}
	next, stop := iter.Pull2(func(yield func(Verdict, error) bool) {
		err := b.each(func(f Verdict) error {
			if !yield(f, nil) {
				return errStopMerge
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStopMerge) {
			yield(Verdict{}, err)
		}
	})
	defer stop()
	pending, perr, ok := next()
	flushBefore := func(f *Verdict) error {
		for ok {
			if perr != nil {
				return perr
			}
			if f != nil && !lessPC(pending.ProposalID, pending.Component, f.ProposalID, f.Component) {
				return nil
			}
			if err := fn(pending); err != nil {
				return err
			}
			pending, perr, ok = next()
		}
		return nil
	}
	if err := a.each(func(f Verdict) error {
		if err := flushBefore(&f); err != nil {
			return err
		}
		return fn(f)
	}); err != nil {
		return err
	}
	return flushBefore(nil)
}
