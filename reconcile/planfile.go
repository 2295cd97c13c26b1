package reconcile

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// PlanFormat names the plan file format and its version.
const PlanFormat = "connects-reconciler/plan/v1"

// Plan file errors, wrapped with the details by ReadPlan.
var (
	// ErrPlanInvalid: the file is not a plan this program wrote.
	ErrPlanInvalid = errors.New("not a valid plan file")
	// ErrPlanEdited: the content does not match its fingerprint.
	ErrPlanEdited = errors.New("plan file was edited after it was made (fingerprint mismatch)")
	// ErrPlanTooOld: the plan is older than the maximum age allowed.
	ErrPlanTooOld = errors.New("plan file is too old")
)

// planContent is everything a plan file says, in the order it is written.
// The fingerprint covers all of it: SHA-256 over its canonical encoding,
// which is encoding/json's compact output of this struct (fields in this
// order, map keys sorted, times in RFC 3339 with nanoseconds, UTC).
type planContent struct {
	Format       string    `json:"format"`
	MadeAt       time.Time `json:"made_at"`
	SettleCutoff time.Time `json:"settle_cutoff"`
	Scope        string    `json:"scope"`
	Shard        string    `json:"shard"`
	Policy       Policy    `json:"policy"`
	Totals       Totals    `json:"totals"`
	// Refunds are the refunds to write, in proposal, component order.
	Refunds       []plannedRefund `json:"refunds"`
	Discrepancies []Discrepancy   `json:"discrepancies"`
	// Pending are owed refunds still inside the settle delay: shown for
	// review, never written by this plan.
	Pending       []plannedRefund `json:"pending"`
	OldestPending *time.Time      `json:"oldest_pending"`
}

// plannedRefund is a refund as a plan file carries it.
type plannedRefund struct {
	ProposalID     int64      `json:"proposal_id"`
	Component      Component  `json:"component"`
	IdempotencyKey string     `json:"idempotency_key"`
	FreelancerID   int64      `json:"freelancer_id"`
	JobID          int64      `json:"job_id"`
	Connects       int64      `json:"connects"`
	Rule           Rule       `json:"rule"`
	EventAt        *time.Time `json:"event_at"`
}

// planFile is the file: the fingerprint first, then the content it covers.
type planFile struct {
	Fingerprint string `json:"fingerprint"`
	planContent
}

// planned is the refund as a plan file carries it.
func (r Refund) planned() plannedRefund {
	return plannedRefund{
		ProposalID: r.ProposalID, Component: r.Component, IdempotencyKey: r.IdempotencyKey(),
		FreelancerID: r.FreelancerID, JobID: r.JobID, Connects: r.Charged, Rule: r.Rule, EventAt: UTC(r.EventAt),
	}
}

// verdict is what a plan file's refund says, in state s.
func (w plannedRefund) verdict(s State) Verdict {
	return Verdict{ProposalID: w.ProposalID, FreelancerID: w.FreelancerID, JobID: w.JobID,
		Component: w.Component, Charged: w.Connects, Rule: w.Rule, EventAt: UTC(w.EventAt), State: s}
}

// UTC returns a copy of *t in UTC, or nil for nil: the one helper for the
// optional times of plans, facts and the stores' rows.
func UTC(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// fingerprint hashes a plan's content held in memory (tests forge files with
// it); encodeContent writes the same bytes from a spooled plan.
func fingerprint(c planContent) (string, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("encode plan: %w", err)
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// planHead is the part of a plan file that is not a list.
type planHead struct {
	MadeAt, SettleCutoff time.Time
	Scope, Shard         string
	Policy               Policy
	Totals               Totals
	OldestPending        *time.Time
	// policyKeys are the policy's settings as the file names them (read
	// files only): a file made by a version of the job with other settings
	// cannot hash the same, and is refused saying so.
	policyKeys []string
}

func headOf(p *Plan) planHead {
	return planHead{MadeAt: p.AsOf.UTC(), SettleCutoff: p.SettleCutoff.UTC(), Scope: p.Scope, Shard: p.Shard,
		Policy: p.Policy, Totals: p.Totals(), OldestPending: UTC(p.OldestPending())}
}

// encodeContent streams a plan's canonical encoding: byte for byte what
// json.Marshal(planContent) writes for the same plan (so fingerprints of
// files written before streaming still verify). Pretty puts each field and
// each list element on a line of its own, for files people review; the
// fingerprint is always taken over the compact form.
func encodeContent(w io.Writer, h planHead, p *Plan, pretty bool) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	fieldSep, colon, elemSep, listEnd := "", ":", "", "]"
	if pretty {
		fieldSep, colon, elemSep, listEnd = "\n  ", ": ", "\n    ", "\n  ]"
	}
	field := func(first bool, name string, v any) error {
		if !first {
			bw.WriteByte(',')
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode plan %s: %w", name, err)
		}
		bw.WriteString(fieldSep + `"` + name + `"` + colon)
		bw.Write(b)
		return nil
	}
	list := func(name string, each func(func(any) error) error) error {
		bw.WriteString("," + fieldSep + `"` + name + `"` + colon + "[")
		n := 0
		err := each(func(v any) error {
			b, err := json.Marshal(v)
			if err != nil {
				return fmt.Errorf("encode plan %s: %w", name, err)
			}
			if n > 0 {
				bw.WriteByte(',')
			}
			bw.WriteString(elemSep)
			n++
			_, err = bw.Write(b)
			return err
		})
		if n > 0 {
			bw.WriteString(listEnd)
		} else {
			bw.WriteByte(']')
		}
		return err
	}
	bw.WriteByte('{')
	for i, f := range []struct {
		name string
		v    any
	}{{"format", PlanFormat}, {"made_at", h.MadeAt}, {"settle_cutoff", h.SettleCutoff}, {"scope", h.Scope},
		{"shard", h.Shard}, {"policy", h.Policy}, {"totals", h.Totals}} {
		if err := field(i == 0, f.name, f.v); err != nil {
			return err
		}
	}
	refunds := func(each func(func(Refund) error) error) func(func(any) error) error {
		return func(fn func(any) error) error {
			return each(func(r Refund) error { return fn(r.planned()) })
		}
	}
	if err := list("refunds", refunds(p.EachRefund)); err != nil {
		return err
	}
	if err := list("discrepancies", func(fn func(any) error) error {
		return p.EachDiscrepancy(func(d Discrepancy) error { return fn(d.wire()) })
	}); err != nil {
		return err
	}
	if err := list("pending", refunds(p.EachPending)); err != nil {
		return err
	}
	if err := field(false, "oldest_pending", h.OldestPending); err != nil {
		return err
	}
	if pretty {
		bw.WriteString("\n")
	}
	bw.WriteByte('}')
	return bw.Flush()
}

// streamFingerprint hashes a spooled plan's canonical encoding.
func streamFingerprint(h planHead, p *Plan) (string, error) {
	sum := sha256.New()
	if err := encodeContent(sum, h, p, false); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(sum.Sum(nil)), nil
}

// WritePlan writes a plan file: the fingerprint, then the content, one list
// element a line. It streams from the plan's spool (two passes: the
// fingerprint comes first in the file).
func WritePlan(w io.Writer, p *Plan) error {
	h := headOf(p)
	fp, err := streamFingerprint(h, p)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, "{\n  \"fingerprint\": \""+fp+"\","); err != nil {
		return err
	}
	// encodeContent's opening brace is replaced by the one above.
	if err := encodeContent(&skipFirst{w: w}, h, p, true); err != nil {
		return err
	}
	_, err = io.WriteString(w, "\n")
	return err
}

// skipFirst drops the first byte written through it.
type skipFirst struct {
	w       io.Writer
	skipped bool
}

func (s *skipFirst) Write(b []byte) (int, error) {
	if !s.skipped && len(b) > 0 {
		s.skipped = true
		n, err := s.w.Write(b[1:])
		return n + 1, err
	}
	return s.w.Write(b)
}

// ReadPlan reads and checks a plan file, streaming its lists into a spooled
// plan: the fingerprint must match the content, the content must be sound,
// and the plan must be no older than maxAge (0: any age) by now, the
// database's clock. The caller closes the plan.
func ReadPlan(r io.Reader, now time.Time, maxAge time.Duration) (*Plan, error) {
	p, fp, h, err := decodePlan(r)
	if err != nil {
		if p != nil {
			p.Close()
		}
		return nil, fmt.Errorf("%w: %w", ErrPlanInvalid, err)
	}
	fail := func(err error) (*Plan, error) {
		p.Close()
		return nil, err
	}
	got, err := streamFingerprint(h, p)
	if err != nil {
		return fail(fmt.Errorf("%w: %w", ErrPlanInvalid, err))
	}
	if missing, extra := policyKeysDiffer(h.policyKeys); len(missing)+len(extra) > 0 {
		return fail(fmt.Errorf("%w: it was made by a version of the job with other policy settings (missing: %s; unknown: %s); make and review a new plan (run --dry-run --plan-out)",
			ErrPlanInvalid, orNone(missing), orNone(extra)))
	}
	if got != fp {
		return fail(fmt.Errorf("%w: the file says %s, its content hashes to %s; make and review a new plan (run --dry-run --plan-out)",
			ErrPlanEdited, fp, got))
	}
	if err := checkHead(h, p); err != nil {
		return fail(fmt.Errorf("%w: %w", ErrPlanInvalid, err))
	}
	age := now.Sub(h.MadeAt)
	if maxAge > 0 && age > maxAge {
		return fail(fmt.Errorf("%w: made at %s, %s ago, more than the %s allowed (--plan-max-age); make and review a new plan",
			ErrPlanTooOld, h.MadeAt.Format(time.RFC3339), age.Round(time.Second), maxAge))
	}
	if age < -5*time.Minute {
		return fail(fmt.Errorf("%w: made at %s, %s after the database's clock says it is now (%s); was it made against another database?",
			ErrPlanInvalid, h.MadeAt.Format(time.RFC3339), (-age).Round(time.Second), now.UTC().Format(time.RFC3339)))
	}
	return p, nil
}

// decodePlan reads a plan file's object field by field; its lists go into
// the returned plan's spools, checked element by element.
func decodePlan(r io.Reader) (p *Plan, fp string, h planHead, err error) {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	dec.DisallowUnknownFields()
	if err := expectDelim(dec, '{'); err != nil {
		return nil, "", h, err
	}
	p = &Plan{}
	seen := map[string]bool{}
	var format string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return p, "", h, err
		}
		key, _ := tok.(string)
		if seen[key] {
			return p, "", h, fmt.Errorf("field %q twice", key)
		}
		seen[key] = true
		switch key {
		case "fingerprint":
			err = dec.Decode(&fp)
		case "format":
			err = dec.Decode(&format)
		case "made_at":
			err = dec.Decode(&h.MadeAt)
		case "settle_cutoff":
			err = dec.Decode(&h.SettleCutoff)
		case "scope":
			err = dec.Decode(&h.Scope)
		case "shard":
			err = dec.Decode(&h.Shard)
		case "policy":
			var raw json.RawMessage
			if err = dec.Decode(&raw); err == nil {
				h.policyKeys, err = objectKeys(raw)
			}
			if err == nil {
				err = json.Unmarshal(raw, &h.Policy)
			}
		case "totals":
			err = dec.Decode(&h.Totals)
		case "oldest_pending":
			err = dec.Decode(&h.OldestPending)
		case "refunds", "pending":
			class := MissingRefund
			if key == "pending" {
				class = PendingRefund
			}
			n := 0
			err = eachElement(dec, func() error {
				n++
				var pr plannedRefund
				if err := dec.Decode(&pr); err != nil {
					return err
				}
				if err := checkRefund(pr); err != nil {
					return fmt.Errorf("%s %d: %w", key, n, err)
				}
				if err := p.Add(pr.verdict(class)); err != nil {
					return fmt.Errorf("%s %d (%s): not in proposal, component order, or a duplicate", key, n, pr.IdempotencyKey)
				}
				return nil
			})
		case "discrepancies":
			n := 0
			err = eachElement(dec, func() error {
				n++
				var d Discrepancy
				if err := dec.Decode(&d); err != nil {
					return err
				}
				// Owed refunds are filed by list ("refunds", "pending"),
				// never by a kind: only a discrepancy's kind is in the file,
				// spelled the same before and after the states were one type.
				if !d.State.Discrepancy() {
					return fmt.Errorf("discrepancy %d: kind %q is not a discrepancy kind (%s)", n, d.State, JoinStates(DiscrepancyStates))
				}
				return p.Add(Verdict(d))
			})
		default:
			return p, "", h, fmt.Errorf("unknown field %q", key)
		}
		if err != nil {
			return p, "", h, err
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return p, "", h, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return p, "", h, errors.New("more than one JSON value")
	}
	for _, k := range []string{"fingerprint", "format", "made_at", "settle_cutoff", "scope", "shard", "policy", "totals", "refunds", "discrepancies", "pending", "oldest_pending"} {
		if !seen[k] {
			return p, "", h, fmt.Errorf("no %q", k)
		}
	}
	if format != PlanFormat {
		return p, "", h, fmt.Errorf("format %q, want %q", format, PlanFormat)
	}
	if fp == "" {
		return p, "", h, errors.New("no fingerprint")
	}
	p.AsOf, p.SettleCutoff, p.Policy, p.Scope, p.Shard = h.MadeAt, h.SettleCutoff, h.Policy, h.Scope, h.Shard
	return p, fp, h, nil
}

func expectDelim(dec *json.Decoder, d json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != d {
		return fmt.Errorf("expected %q, found %v", d, tok)
	}
	return nil
}

// eachElement calls fn for each element of the JSON array at the decoder;
// fn decodes the element.
func eachElement(dec *json.Decoder, fn func() error) error {
	if err := expectDelim(dec, '['); err != nil {
		return err
	}
	for dec.More() {
		if err := fn(); err != nil {
			return err
		}
	}
	return expectDelim(dec, ']')
}

func checkRefund(r plannedRefund) error {
	if r.Component != Base && r.Component != Boost {
		return fmt.Errorf("component %q", r.Component)
	}
	if r.Connects <= 0 {
		return fmt.Errorf("%s: %d Connects", r.IdempotencyKey, r.Connects)
	}
	if want := RefundKey(r.ProposalID, r.Component); r.IdempotencyKey != want {
		return fmt.Errorf("idempotency key %q, want %q", r.IdempotencyKey, want)
	}
	return nil
}

// checkHead checks what a plan file says about itself against its lists.
func checkHead(h planHead, p *Plan) error {
	if h.MadeAt.IsZero() || h.SettleCutoff.After(h.MadeAt) {
		return fmt.Errorf("made_at %s and settle_cutoff %s are not a plan's times", h.MadeAt, h.SettleCutoff)
	}
	if _, err := ParseShard(h.Shard); err != nil {
		return fmt.Errorf("shard: %w", err)
	}
	if !sameTotals(p.Totals(), h.Totals) {
		return errors.New("totals do not add up to the refunds listed")
	}
	if !sameTime(p.OldestPending(), h.OldestPending) {
		return errors.New("oldest_pending is not the earliest pending refund's event")
	}
	return nil
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

func sameTotals(a, b Totals) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// objectKeys returns the keys of a JSON object.
func objectKeys(raw json.RawMessage) ([]string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(m)), nil
}

// policyKeysDiffer compares a file's policy settings with this version's:
// the ones it lacks and the ones this version does not know.
func policyKeysDiffer(file []string) (missing, extra []string) {
	b, err := json.Marshal(Policy{})
	if err != nil {
		panic(fmt.Sprintf("encode policy: %v", err)) // a Policy always encodes
	}
	ours, err := objectKeys(b)
	if err != nil {
		panic(fmt.Sprintf("decode policy: %v", err))
	}
	for _, k := range ours {
		if !slices.Contains(file, k) {
			missing = append(missing, k)
		}
	}
	for _, k := range file {
		if !slices.Contains(ours, k) {
			extra = append(extra, k)
		}
	}
	return missing, extra
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
