package config

import (
	"errors"
	"flag"
	"io"
	"testing"
)

func TestSuggest(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Bool("dry-run", false, "")
	Register(fs)
	for _, tt := range []struct{ typed, want string }{
		{"dryrun", " (did you mean --dry-run?)"},
		{"dry_run", " (did you mean --dry-run?)"},
		{"max-refund", " (did you mean --max-refunds?)"},
		{"zzzzzzzz", ""},
	} {
		err := fs.Parse([]string{"--" + tt.typed})
		if got := Suggest(fs, err); got != tt.want {
			t.Errorf("--%s: got %q, want %q", tt.typed, got, tt.want)
		}
	}
	if got := Suggest(fs, errors.New("invalid value")); got != "" {
		t.Errorf("another error: got %q, want none", got)
	}
}
