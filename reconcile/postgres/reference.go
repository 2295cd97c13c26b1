package postgres

import (
	"bytes"
	"fmt"
	"time"

	"github.com/connects/connects-reconciler/reconcile"
)

// PolicyStatement renders text, a statement that includes the policy
// fragment ({{template "policy.sql" .}}) and takes no parameters of its own,
// for every proposal at once and unsharded, and returns it with the
// fragment's arguments for the policy and the settle cutoff. It lets code
// outside the store (the benchmark's fragment reference) run the job's own
// policy as one statement without knowing how its parameters are passed.
func PolicyStatement(text string, p reconcile.Policy, cutoff time.Time) (string, []any, error) {
	t, err := files.With("policy statement", text)
	if err != nil {
		return "", nil, fmt.Errorf("policy statement: %w", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, byAll); err != nil {
		return "", nil, fmt.Errorf("policy statement: %w", err)
	}
	return b.String(), policyArgs(p, cutoff), nil
}
