// Package reconcile is the domain of connects-reconciler: the refund policy's
// settings, the plan of missing refunds and discrepancies, the safety limits,
// and the run loop that plans in batches and then applies in batches. It
// speaks to storage through interfaces its adapters implement (Store for the
// run loop; ReplicaStore, ExplainStore, ReplicaLagger where a run or a
// command needs more) and imports no driver.
package reconcile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Component is the part of a proposal's cost a refund returns.
type Component string

// The two components of the contract.
const (
	Base  Component = "base"
	Boost Component = "boost"
)

// Rule names the policy rule that entitles a refund.
type Rule string

// The contract's rules, in order of precedence.
const (
	RuleTOSRemoved        Rule = "tos_removed"
	RuleClosedWithoutHire Rule = "closed_without_hire"
	RuleBoostOutbid       Rule = "boost_outbid"
)

// Rules lists the rules in order of precedence.
var Rules = []Rule{RuleTOSRemoved, RuleClosedWithoutHire, RuleBoostOutbid}

// EligibleInteractions are the contract's default interaction kinds that
// count as the client having interacted with a proposal.
var EligibleInteractions = []string{"opened", "offer_sent", "shortlisted", "messaged", "archived", "declined"}

// Policy is the refund rule set. Its zero value refunds nothing; DefaultPolicy
// is the contract's.
type Policy struct {
	// SettleDelay is how old an event must be before it is reconciled
	// (default 15m): the online path refunds at close; the job is the net.
	SettleDelay time.Duration `json:"settle_delay"`
	// TOSRemoved enables rule 1, tos_removed (default true).
	TOSRemoved bool `json:"tos_removed"`
	// TOSRemovedBoost makes rule 1 refund the boost too (default true).
	TOSRemovedBoost bool `json:"tos_removed_boost"`
	// ClosedWithoutHire enables rule 2, closed_without_hire (default true).
	ClosedWithoutHire bool `json:"closed_without_hire"`
	// ClosedWithoutHireBoost makes rule 2 refund the boost of a proposal that
	// had no eligible interaction before the close (default true).
	ClosedWithoutHireBoost bool `json:"closed_without_hire_boost"`
	// RefundDeclined makes rule 2 refund proposals the client declined before
	// closing the job (default false).
	RefundDeclined bool `json:"refund_declined"`
	// BoostOutbid enables rule 3, boost_outbid (default true).
	BoostOutbid bool `json:"boost_outbid"`
	// EligibleInteractions are the interaction kinds that count (default the
	// contract's six).
	EligibleInteractions []string `json:"eligible_interactions"`
}

// Toggle is one on/off setting of the policy, by its configuration name.
type Toggle struct {
	Name string
	On   bool
}

// Toggles lists the policy's on/off settings in the order of its fields, by
// their JSON (configuration) names: what shows the policy in force (the
// report's footer) names a new toggle without being told of it.
func (p Policy) Toggles() []Toggle {
	b, err := json.Marshal(p)
	if err != nil {
		panic(fmt.Sprintf("encode policy: %v", err)) // a Policy always encodes
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	var out []Toggle
	if _, err := dec.Token(); err != nil { // {
		panic(fmt.Sprintf("decode policy: %v", err))
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			panic(fmt.Sprintf("decode policy: %v", err))
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			panic(fmt.Sprintf("decode policy: %v", err))
		}
		if on, ok := v.(bool); ok {
			out = append(out, Toggle{Name: key.(string), On: on})
		}
	}
	return out
}

// DefaultPolicy returns the contract's policy.
func DefaultPolicy() Policy {
	return Policy{
		SettleDelay:            15 * time.Minute,
		TOSRemoved:             true,
		TOSRemovedBoost:        true,
		ClosedWithoutHire:      true,
		ClosedWithoutHireBoost: true,
		RefundDeclined:         false,
		BoostOutbid:            true,
		EligibleInteractions:   append([]string(nil), EligibleInteractions...),
	}
}

// Limits stop a run whose plan is larger than expected: a bug that suddenly
// wants to refund everyone must not get through. Zero means no limit.
type Limits struct {
	// MaxRefunds is the most refund entries one run may write.
	MaxRefunds int64 `json:"max_refunds"`
	// MaxConnects is the most Connects one run may refund in all.
	MaxConnects int64 `json:"max_connects"`
}

// Check returns a *LimitError when totals exceed a limit.
func (l Limits) Check(t Totals) error {
	var problems []string
	if l.MaxRefunds > 0 && t.Refunds > l.MaxRefunds {
		problems = append(problems, fmt.Sprintf("%d refunds exceed max-refunds %d", t.Refunds, l.MaxRefunds))
	}
	if l.MaxConnects > 0 && t.Connects > l.MaxConnects {
		problems = append(problems, fmt.Sprintf("%d connects exceed max-connects %d", t.Connects, l.MaxConnects))
	}
	if len(problems) == 0 {
		return nil
	}
	return &LimitError{Problems: problems}
}

// LimitError says which safety limits a plan exceeded.
type LimitError struct{ Problems []string }

func (e *LimitError) Error() string {
	msg := "refused by safety limit: "
	for i, p := range e.Problems {
		if i > 0 {
			msg += "; "
		}
		msg += p
	}
	return msg
}

// ErrLocked means another applying run holds the lock.
var ErrLocked = errors.New("another run holds the lock")

// SetupError is a failure no retry can fix: the database refused the
// credentials, its SSL does not match the connection's sslmode, the job's
// schema is missing or behind, an output cannot be written. Fix says what to
// do; the command exits 2 (configuration), so schedulers stop retrying.
type SetupError struct {
	Err error
	Fix string
}

func (e *SetupError) Error() string { return e.Err.Error() + ": " + e.Fix }

// Unwrap returns the underlying error.
func (e *SetupError) Unwrap() error { return e.Err }

// ErrTransient marks a storage error worth retrying: a lost connection, a
// serialization failure or a deadlock. Stores wrap such errors with it.
var ErrTransient = errors.New("transient database error")

// policyJSON is Policy as people read it in plans, manifests and run
// records: the settle delay as a Go duration string ("15m0s").
type policyJSON struct {
	SettleDelay string `json:"settle_delay"`
	policyFields
}

type policyFields Policy

// MarshalJSON writes the settle delay as a duration string.
func (p Policy) MarshalJSON() ([]byte, error) {
	return json.Marshal(policyJSON{SettleDelay: p.SettleDelay.String(), policyFields: policyFields(p)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (p *Policy) UnmarshalJSON(b []byte) error {
	var v policyJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	d, err := time.ParseDuration(v.SettleDelay)
	if err != nil {
		return fmt.Errorf("policy settle_delay: %w", err)
	}
	*p = Policy(v.policyFields)
	p.SettleDelay = d
	return nil
}
