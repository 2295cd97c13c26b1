package reconcile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

func toPlanned(rs []Refund) []plannedRefund {
	out := make([]plannedRefund, len(rs))
	for i, r := range rs {
		out[i] = plannedRefund{
			ProposalID: r.ProposalID, Component: r.Component, IdempotencyKey: r.IdempotencyKey(),
			FreelancerID: r.FreelancerID, JobID: r.JobID, Connects: r.Connects, Rule: r.Rule, EventAt: utcPtr(r.EventAt),
		}
	}
	return out
}

func fromPlanned(ps []plannedRefund) []Refund {
	out := make([]Refund, len(ps))
	for i, p := range ps {
		out[i] = Refund{ProposalID: p.ProposalID, FreelancerID: p.FreelancerID, JobID: p.JobID,
			Component: p.Component, Connects: p.Connects, Rule: p.Rule, EventAt: p.EventAt}
	}
	return out
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func contentOf(p *Plan) planContent {
	return planContent{
		Format: PlanFormat, MadeAt: p.AsOf.UTC(), SettleCutoff: p.SettleCutoff.UTC(),
		Scope: p.Scope, Shard: p.Shard, Policy: p.Policy, Totals: p.Totals(),
		Refunds: toPlanned(p.Refunds), Discrepancies: nonNilSlice(p.Discrepancies),
		Pending: toPlanned(p.PendingRefunds), OldestPending: utcPtr(p.OldestPending),
	}
}

func nonNilSlice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// fingerprint is "sha256:" and the hex SHA-256 of the content's canonical
// encoding.
func fingerprint(c planContent) (string, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("encode plan: %w", err)
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// WritePlan writes p as a plan file: indented JSON for people to review, with
// a fingerprint over everything in it.
func WritePlan(w io.Writer, p *Plan) error {
	c := contentOf(p)
	fp, err := fingerprint(c)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(planFile{Fingerprint: fp, planContent: c}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode plan: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// ReadPlan reads a plan file written by WritePlan and returns its plan. It
// refuses a file that is not a plan (ErrPlanInvalid), whose content does not
// match its fingerprint (ErrPlanEdited), or that was made more than maxAge
// before now, by the database's clock (ErrPlanTooOld; maxAge 0: any age).
//
// The fingerprint detects edits, not forgeries: someone who can rewrite the
// file can recompute it. Keep reviewed plans where only reviewers can write.
func ReadPlan(r io.Reader, now time.Time, maxAge time.Duration) (*Plan, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var f planFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPlanInvalid, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: more than one JSON value", ErrPlanInvalid)
	}
	if f.Format != PlanFormat {
		return nil, fmt.Errorf("%w: format %q, want %q", ErrPlanInvalid, f.Format, PlanFormat)
	}
	if f.Fingerprint == "" {
		return nil, fmt.Errorf("%w: no fingerprint", ErrPlanInvalid)
	}
	got, err := fingerprint(f.planContent)
	if err != nil {
		return nil, err
	}
	if got != f.Fingerprint {
		return nil, fmt.Errorf("%w: the file says %s, its content hashes to %s; make and review a new plan (run --dry-run --plan-out)",
			ErrPlanEdited, f.Fingerprint, got)
	}
	if err := checkContent(f.planContent); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPlanInvalid, err)
	}
	age := now.Sub(f.MadeAt)
	if maxAge > 0 && age > maxAge {
		return nil, fmt.Errorf("%w: made at %s, %s ago, more than the %s allowed (--plan-max-age); make and review a new plan",
			ErrPlanTooOld, f.MadeAt.Format(time.RFC3339), age.Round(time.Second), maxAge)
	}
	if age < -5*time.Minute {
		return nil, fmt.Errorf("%w: made at %s, %s after the database's clock says it is now (%s); was it made against another database?",
			ErrPlanInvalid, f.MadeAt.Format(time.RFC3339), (-age).Round(time.Second), now.UTC().Format(time.RFC3339))
	}
	p := &Plan{
		AsOf: f.MadeAt, SettleCutoff: f.SettleCutoff, Policy: f.Policy, Scope: f.Scope, Shard: f.Shard,
		Refunds: fromPlanned(f.Refunds), Discrepancies: f.Discrepancies,
		Pending: int64(len(f.Pending)), OldestPending: f.OldestPending, PendingRefunds: fromPlanned(f.Pending),
	}
	return p, nil
}

// checkContent checks what a plan this program wrote always satisfies, so a
// file that passes the fingerprint but was built by hand is still sound.
func checkContent(c planContent) error {
	if c.MadeAt.IsZero() || c.SettleCutoff.After(c.MadeAt) {
		return fmt.Errorf("made_at %s and settle_cutoff %s are not a plan's times", c.MadeAt, c.SettleCutoff)
	}
	if _, err := ParseShard(c.Shard); err != nil {
		return fmt.Errorf("shard: %w", err)
	}
	for i, r := range c.Refunds {
		if r.Component != Base && r.Component != Boost {
			return fmt.Errorf("refund %d: component %q", i+1, r.Component)
		}
		if r.Connects <= 0 {
			return fmt.Errorf("refund %d (%s): %d Connects", i+1, r.IdempotencyKey, r.Connects)
		}
		if want := RefundKey(r.ProposalID, r.Component); r.IdempotencyKey != want {
			return fmt.Errorf("refund %d: idempotency key %q, want %q", i+1, r.IdempotencyKey, want)
		}
		if i > 0 {
			prev := c.Refunds[i-1]
			if !lessPC(prev.ProposalID, prev.Component, r.ProposalID, r.Component) {
				return fmt.Errorf("refund %d (%s): not in proposal, component order, or a duplicate", i+1, r.IdempotencyKey)
			}
		}
	}
	want := Sum(fromPlanned(c.Refunds), c.Discrepancies)
	want.Pending = int64(len(c.Pending))
	if !sameTotals(want, c.Totals) {
		return errors.New("totals do not add up to the refunds listed")
	}
	return nil
}

func sameTotals(a, b Totals) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
