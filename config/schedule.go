package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// cronFields are the five fields of a cron schedule and the largest value
// each takes.
var cronFields = []struct {
	name string
	max  int
}{{"minute", 59}, {"hour", 23}, {"day of month", 31}, {"month", 12}, {"day of week", 7}}

// checkSchedule refuses what robfig/cron accepts but means something else
// than it says: a step larger than its field's range (`*/61` in the minute
// field runs once an hour, at minute 0; cronie refuses it), and `@every`
// below a second (cron runs it every second).
func checkSchedule(spec string) error {
	spec = strings.TrimSpace(spec)
	if strings.HasPrefix(spec, "CRON_TZ=") || strings.HasPrefix(spec, "TZ=") {
		if i := strings.IndexAny(spec, " \t"); i >= 0 {
			spec = strings.TrimSpace(spec[i:])
		}
	}
	if d, ok := strings.CutPrefix(spec, "@every "); ok {
		every, err := time.ParseDuration(strings.TrimSpace(d))
		if err != nil {
			return fmt.Errorf("@every takes a duration like 5m, got %q", d)
		}
		if every < time.Second {
			return fmt.Errorf("@every %s: must be at least 1s", every)
		}
		return nil
	}
	if strings.HasPrefix(spec, "@") {
		return nil // @hourly, @daily, ...: parsed already
	}
	fields := strings.Fields(spec)
	for i, f := range fields {
		if i >= len(cronFields) {
			break
		}
		for _, part := range strings.Split(f, ",") {
			_, step, ok := strings.Cut(part, "/")
			if !ok {
				continue
			}
			n, err := strconv.Atoi(step)
			if err == nil && n > cronFields[i].max {
				return fmt.Errorf("%q: a step of %d in the %s field is larger than its range (at most %d); */%d would run only once per %s",
					spec, n, cronFields[i].name, cronFields[i].max, n, cronPeriod[i])
			}
		}
	}
	return nil
}

// cronPeriod is what a field's values repeat over.
var cronPeriod = []string{"hour", "day", "month", "year", "week"}
