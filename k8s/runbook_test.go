package k8s_test

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const (
	operationsDoc = "../docs/operations.md"
	// runbookBase is where every alert's runbook_url points: a section of
	// docs/operations.md as GitHub shows it.
	runbookBase = "https://github.com/connects/connects-reconciler/blob/main/docs/operations.md#"
)

// headingAnchors returns the anchors GitHub gives the headings of a
// Markdown file: lower case, punctuation but hyphens and underscores
// dropped, spaces made hyphens; a repeated heading gets -1, -2, ...
func headingAnchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	heading := regexp.MustCompile(`^#{1,6}\s+(.+?)\s*#*\s*$`)
	drop := regexp.MustCompile(`[^\p{L}\p{N} _-]`)
	seen := map[string]int{}
	out := map[string]bool{}
	inCode := false
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "```") {
			inCode = !inCode
		}
		m := heading.FindStringSubmatch(l)
		if inCode || m == nil {
			continue
		}
		a := strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(m[1]), ""), " ", "-")
		if n := seen[a]; n > 0 {
			out[a+"-"+strconv.Itoa(n)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out
}

// Every alert rule tells the person it pages what happened and where to go:
// a description, and a runbook_url naming a section of docs/operations.md
// that exists.
func TestAlertsHaveRunbooks(t *testing.T) {
	t.Parallel()
	anchors := headingAnchors(t, operationsDoc)
	var rules struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Alert       string            `json:"alert"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	}
	b, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue // a recording rule
			}
			n++
			if strings.TrimSpace(r.Annotations["summary"]) == "" {
				t.Errorf("%s: %s has no summary", alertsFile, r.Alert)
			}
			if strings.TrimSpace(r.Annotations["description"]) == "" {
				t.Errorf("%s: %s has no description", alertsFile, r.Alert)
			}
			u := r.Annotations["runbook_url"]
			anchor, ok := strings.CutPrefix(u, runbookBase)
			switch {
			case u == "":
				t.Errorf("%s: %s has no runbook_url", alertsFile, r.Alert)
			case !ok:
				t.Errorf("%s: %s: runbook_url %q is not a section of docs/operations.md (%s…)", alertsFile, r.Alert, u, runbookBase)
			case !anchors[anchor]:
				t.Errorf("%s: %s: runbook_url %q: docs/operations.md has no heading with the anchor #%s", alertsFile, r.Alert, u, anchor)
			}
		}
	}
	if n == 0 {
		t.Fatalf("%s: no alert rules", alertsFile)
	}
}

func TestHeadingAnchors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := dir + "/x.md"
	if err := os.WriteFile(p, []byte("# Operating it\n## A refund stays unmatched\n```\n# not a heading\n```\n#### ConnectsRefundsOverdue\n## Runbooks\n## Runbooks\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := headingAnchors(t, p)
	for _, want := range []string{"operating-it", "a-refund-stays-unmatched", "connectsrefundsoverdue", "runbooks", "runbooks-1"} {
		if !got[want] {
			t.Errorf("no anchor %q in %v", want, got)
		}
	}
	if got["not-a-heading"] {
		t.Error("a comment in a code block made an anchor")
	}
}
