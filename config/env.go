package config

import (
	"fmt"
	"sort"
	"strings"
)

// UnknownEnv returns a warning for each RECONCILER_* variable in environ
// ("KEY=value" entries) that is no setting's: a misspelled variable is
// otherwise silently ignored, where a misspelled file key is an error. A
// variable of a setting another command reads is known (one ConfigMap
// serves every command). The value is never quoted: it may be a secret.
func UnknownEnv(environ []string) []string {
	known := map[string]bool{EnvPrefix + "CONFIG": true}
	for _, s := range settings {
		known[s.Env()] = true
	}
	var warnings []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix) || known[name] {
			continue
		}
		w := fmt.Sprintf("unknown environment variable %s ignored: no setting has that name", name)
		if best := nearestEnv(name, known); best != "" {
			w += fmt.Sprintf(" (did you mean %s?)", best)
		}
		warnings = append(warnings, w)
	}
	sort.Strings(warnings)
	return warnings
}

// nearestEnv is the known variable closest to name, when it is close.
func nearestEnv(name string, known map[string]bool) string {
	typed := strings.TrimPrefix(name, EnvPrefix)
	best, bestDist := "", 0
	for k := range known {
		d := editDistance(typed, strings.TrimPrefix(k, EnvPrefix))
		if best == "" || d < bestDist || (d == bestDist && k < best) {
			best, bestDist = k, d
		}
	}
	if best == "" || bestDist > max(1, min(3, len(typed)/3)) {
		return ""
	}
	return best
}
