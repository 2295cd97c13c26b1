package k8s_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// Every base image of the Dockerfile is pinned by digest (a tag beside it
// for people): a rebuild gets the same bases until a reviewed commit moves
// them. A stage built FROM an earlier stage needs none.
func TestDockerfileBasesPinnedByDigest(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	from := regexp.MustCompile(`(?im)^FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?\s*$`)
	pinned := regexp.MustCompile(`^[^@\s]+:[^@\s]+@sha256:[0-9a-f]{64}$`)
	stages := map[string]bool{}
	var n int
	for _, m := range from.FindAllStringSubmatch(string(b), -1) {
		image, stage := m[1], strings.ToLower(m[2])
		if !stages[strings.ToLower(image)] {
			n++
			if !pinned.MatchString(image) {
				t.Errorf("Dockerfile: FROM %s is not pinned by digest (want name:tag@sha256:<64 hex>)", image)
			}
		}
		if stage != "" {
			stages[stage] = true
		}
	}
	if n == 0 {
		t.Fatal("Dockerfile: no FROM line")
	}
}
