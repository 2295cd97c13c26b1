// Package config loads connects-reconciler's one typed Config: defaults in
// code, then an optional JSON file (--config or RECONCILER_CONFIG), then
// environment variables (RECONCILER_<KEY>, and DATABASE_URL), then flags. Every
// setting has one snake_case key used by all four. Load validates everything
// and reports all problems at once.
package config

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/connects/connects-reconciler/reconcile"
)

// EnvPrefix is the prefix of every environment variable but DATABASE_URL and
// REPLICA_DATABASE_URL.
const EnvPrefix = "RECONCILER_"

// Config is everything the job can be told.
type Config struct {
	Database Database
	Policy   reconcile.Policy
	Limits   reconcile.Limits
	Run      reconcile.Options
	Log      Log
	// ShardCount, with JOB_COMPLETION_INDEX set by Kubernetes in an Indexed
	// Job's pods, picks Run.Shard when no shard is given (default 0).
	ShardCount int64
	// PricePerConnect is what one Connect is worth in US dollars in finance
	// exports and reports, an exact decimal (default 0.15).
	PricePerConnect reconcile.Price
	// Schedule configures the long-running schedule command.
	Schedule Schedule
	// Metrics says where run pushes its metrics.
	Metrics Metrics
}

// Schedule configures the schedule command.
type Schedule struct {
	// Spec is when runs start: five cron fields, or a descriptor such as
	// @hourly or @every 5m (default "*/15 * * * *").
	Spec string
	// Location is the time zone Spec is read in (default UTC).
	Location *time.Location
	// ListenAddress serves /healthz, /readyz and /metrics (default ":9090").
	ListenAddress string
}

// Metrics says where metrics go besides the schedule command's /metrics.
type Metrics struct {
	// PushgatewayURL, when set, is the Prometheus Pushgateway that run pushes
	// its metrics to when it ends (default none).
	PushgatewayURL string
}

// Database says how to reach PostgreSQL.
type Database struct {
	// URL is the DSN (DATABASE_URL). Secret: never logged as is.
	URL string
	// ReplicaURL, when set, is a hot standby of URL (REPLICA_DATABASE_URL)
	// that planning, dry runs, export, report and explain read; every write
	// stays on URL. Secret like URL.
	ReplicaURL string
	// StatementTimeout is PostgreSQL's statement_timeout for the job's
	// sessions: the longest one batch statement may take (default 10m, 0 none).
	StatementTimeout time.Duration
	// LockTimeout is PostgreSQL's lock_timeout: the longest a statement waits
	// for a row lock, e.g. on a balance (default 30s, 0 none).
	LockTimeout time.Duration
	// ConnectTimeout bounds connecting, unless the DSN says (default 10s).
	ConnectTimeout time.Duration
	// StallTimeout bounds how long a connection may pass no data while the
	// job waits on it (a read or write deadline per socket operation, and
	// TCP keepalives with TCP_USER_TIMEOUT): a silent connection fails as a
	// transient error within it. Longer than StatementTimeout, which
	// PostgreSQL enforces itself (default 11m, 0 none).
	StallTimeout time.Duration
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error (default info).
	Level string
	// Format is console, json, or auto: console on a terminal, JSON otherwise
	// (default auto).
	Format string
	// ProgressInterval is the time between two progress records of long
	// work (default 5s, 0 none); on a terminal a live line instead.
	ProgressInterval time.Duration
}

// Default returns the configuration with every default.
func Default() Config {
	return Config{
		Database: Database{StatementTimeout: 10 * time.Minute, LockTimeout: 30 * time.Second, ConnectTimeout: 10 * time.Second, StallTimeout: 11 * time.Minute},
		Policy:   reconcile.DefaultPolicy(),
		Limits:   reconcile.Limits{MaxRefunds: 100000, MaxConnects: 2000000},
		Run: reconcile.Options{BatchSize: 50000, ApplyBatchSize: 5000, ApplyBatchTime: 50 * time.Millisecond,
			ApplyLockTimeout: 50 * time.Millisecond, ApplyMaxReplicaLag: 10 * time.Second, Parallel: 2, Retries: 3, RetryBackoff: 200 * time.Millisecond, Lookback: time.Hour,
			MaxReplicaLag: 30 * time.Minute},
		Log:      Log{Level: "info", Format: "auto", ProgressInterval: reconcile.DefaultProgressInterval},
		Schedule: Schedule{Spec: "*/15 * * * *", Location: time.UTC, ListenAddress: ":9090"},

		PricePerConnect: reconcile.DefaultPrice,
	}
}

// setting is one configurable value.
type setting struct {
	key    string
	usage  string
	secret bool
	isBool bool // a flag that may stand alone: --full means --full=true
	get    func(c *Config) string
	set    func(c *Config, v string) error
}

// Env is the environment variable that sets the setting.
func (s setting) Env() string {
	if s.key == "database_url" || s.key == "replica_database_url" {
		return strings.ToUpper(s.key)
	}
	return EnvPrefix + strings.ToUpper(s.key)
}

// Flag is the flag that sets the setting.
func (s setting) Flag() string { return strings.ReplaceAll(s.key, "_", "-") }

func durationSetting(key, usage string, field func(*Config) *time.Duration, min time.Duration) setting {
	return setting{key: key, usage: usage,
		get: func(c *Config) string { return field(c).String() },
		set: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("not a duration like 15m or 0s: %q", v)
			}
			if d < min {
				return fmt.Errorf("must be at least %s, got %s", min, d)
			}
			*field(c) = d
			return nil
		}}
}

func boolSetting(key, usage string, field func(*Config) *bool) setting {
	return setting{key: key, usage: usage, isBool: true,
		get: func(c *Config) string { return strconv.FormatBool(*field(c)) },
		set: func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("not true or false: %q", v)
			}
			*field(c) = b
			return nil
		}}
}

func intSetting(key, usage string, field func(*Config) *int64, min int64) setting {
	return setting{key: key, usage: usage,
		get: func(c *Config) string { return strconv.FormatInt(*field(c), 10) },
		set: func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("not a whole number: %q", v)
			}
			if n < min {
				return fmt.Errorf("must be at least %d, got %d", min, n)
			}
			*field(c) = n
			return nil
		}}
}

func choiceSetting(key, usage string, field func(*Config) *string, choices ...string) setting {
	return setting{key: key, usage: usage + " (" + strings.Join(choices, "|") + ")",
		get: func(c *Config) string { return *field(c) },
		set: func(c *Config, v string) error {
			for _, ch := range choices {
				if v == ch {
					*field(c) = v
					return nil
				}
			}
			return fmt.Errorf("must be one of %s, got %q", strings.Join(choices, ", "), v)
		}}
}

// settings lists every setting; the order is the order of --help.
var settings = []setting{
	{key: "database_url", usage: "PostgreSQL URL or key=value DSN", secret: true,
		get: func(c *Config) string { return c.Database.URL },
		set: func(c *Config, v string) error { c.Database.URL = v; return nil }},
	{key: "replica_database_url", usage: "hot standby of the database that planning, dry runs, export, report and explain read (empty: the database itself)", secret: true,
		get: func(c *Config) string { return c.Database.ReplicaURL },
		set: func(c *Config, v string) error { c.Database.ReplicaURL = v; return nil }},
	durationSetting("max_replica_lag", "fail a run (exit 1) whose replica is further behind the primary than this (0s: no limit)", func(c *Config) *time.Duration { return &c.Run.MaxReplicaLag }, 0),
	durationSetting("settle_delay", "reconcile events older than this (Go duration)", func(c *Config) *time.Duration { return &c.Policy.SettleDelay }, 0),
	boolSetting("tos_removed", "rule 1: refund proposals on jobs removed for a ToS violation", func(c *Config) *bool { return &c.Policy.TOSRemoved }),
	boolSetting("tos_removed_boost", "rule 1 refunds the boost too", func(c *Config) *bool { return &c.Policy.TOSRemovedBoost }),
	boolSetting("closed_without_hire", "rule 2: refund proposals on jobs closed without a hire", func(c *Config) *bool { return &c.Policy.ClosedWithoutHire }),
	boolSetting("closed_without_hire_boost", "rule 2 refunds the boost of proposals with no eligible interaction before the close", func(c *Config) *bool { return &c.Policy.ClosedWithoutHireBoost }),
	boolSetting("refund_declined", "rule 2 refunds proposals the client declined before the close", func(c *Config) *bool { return &c.Policy.RefundDeclined }),
	boolSetting("boost_outbid", "rule 3: refund boosts outbid before an eligible interaction", func(c *Config) *bool { return &c.Policy.BoostOutbid }),
	{key: "eligible_interactions", usage: "comma-separated interaction kinds that count as a client interaction",
		get: func(c *Config) string { return strings.Join(c.Policy.EligibleInteractions, ",") },
		set: func(c *Config, v string) error {
			var kinds []string
			for _, k := range strings.Split(v, ",") {
				if k = strings.TrimSpace(k); k != "" {
					kinds = append(kinds, k)
				}
			}
			if len(kinds) == 0 {
				return errors.New("must name at least one interaction kind")
			}
			c.Policy.EligibleInteractions = kinds
			return nil
		}},
	intSetting("max_refunds", "refuse a run that would write more refunds than this (0: no limit)", func(c *Config) *int64 { return &c.Limits.MaxRefunds }, 0),
	intSetting("max_connects", "refuse a run that would refund more Connects than this (0: no limit)", func(c *Config) *int64 { return &c.Limits.MaxConnects }, 0),
	intSetting("batch_size", "proposals one planning statement of a full sweep covers", func(c *Config) *int64 { return &c.Run.BatchSize }, 1),
	durationSetting("apply_batch_time", "time one apply transaction should take: batches grow or shrink to it, up to apply_batch_size refunds (0s: always apply_batch_size)", func(c *Config) *time.Duration { return &c.Run.ApplyBatchTime }, 0),
	durationSetting("apply_lock_timeout", "longest an apply transaction waits for a row the marketplace holds; a held balance row's refunds are set aside and written after the rest (0s: lock_timeout)", func(c *Config) *time.Duration { return &c.Run.ApplyLockTimeout }, 0),
	durationSetting("apply_max_replica_lag", "pause the apply while the read replica is further behind the primary than this (0s: never)", func(c *Config) *time.Duration { return &c.Run.ApplyMaxReplicaLag }, 0),
	{key: "apply_batch_size", usage: "most refunds one apply transaction writes",
		get: func(c *Config) string { return strconv.Itoa(c.Run.ApplyBatchSize) },
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("not a whole number: %q", v)
			}
			if n < 1 || n > 100000 {
				return fmt.Errorf("must be from 1 to 100000, got %d", n)
			}
			c.Run.ApplyBatchSize = n
			return nil
		}},
	{key: "parallel", usage: "planning slices run at once, and apply workers (accounts split by id), each on a connection of its own (PostgreSQL runs a statement on one core)",
		get: func(c *Config) string { return strconv.Itoa(c.Run.Parallel) },
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 8 {
				return fmt.Errorf("must be a whole number from 1 to 8, got %q", v)
			}
			c.Run.Parallel = n
			return nil
		}},
	{key: "retries", usage: "retries of a batch after a transient database error",
		get: func(c *Config) string { return strconv.Itoa(c.Run.Retries) },
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 20 {
				return fmt.Errorf("must be a whole number from 0 to 20, got %q", v)
			}
			c.Run.Retries = n
			return nil
		}},
	boolSetting("full", "sweep every proposal instead of what changed since the last successful run", func(c *Config) *bool { return &c.Run.Full }),
	durationSetting("lookback", "widen each incremental window backwards by this, for rows committed late", func(c *Config) *time.Duration { return &c.Run.Lookback }, 0),
	{key: "shard", usage: "reconcile only accounts hashing to shard I of N (\"I/N\")",
		get: func(c *Config) string { return c.Run.Shard.String() },
		set: func(c *Config, v string) error {
			sh, err := reconcile.ParseShard(v)
			if err != nil {
				return err
			}
			c.Run.Shard = sh
			return nil
		}},
	intSetting("shard_count", "shards in all; with JOB_COMPLETION_INDEX (an Indexed Job's pod) it picks the shard (0: unsharded)", func(c *Config) *int64 { return &c.ShardCount }, 0),
	durationSetting("retry_backoff", "first wait before a retry; doubles each time", func(c *Config) *time.Duration { return &c.Run.RetryBackoff }, time.Millisecond),
	durationSetting("statement_timeout", "longest one statement may run (0s: no limit)", func(c *Config) *time.Duration { return &c.Database.StatementTimeout }, 0),
	durationSetting("lock_timeout", "longest a statement waits for a lock (0s: no limit)", func(c *Config) *time.Duration { return &c.Database.LockTimeout }, 0),
	durationSetting("connect_timeout", "longest connecting may take, unless the URL says", func(c *Config) *time.Duration { return &c.Database.ConnectTimeout }, time.Second),
	durationSetting("stall_timeout", "longest a database connection may pass no data while the job waits on it; longer than statement_timeout (0s: no limit)", func(c *Config) *time.Duration { return &c.Database.StallTimeout }, 0),
	{key: "price_per_connect", usage: "US dollars one Connect is worth in finance exports and reports (exact decimal, up to 4 places)",
		get: func(c *Config) string { return c.PricePerConnect.String() },
		set: func(c *Config, v string) error {
			p, err := reconcile.ParsePrice(v)
			if err != nil {
				return err
			}
			c.PricePerConnect = p
			return nil
		}},
	choiceSetting("log_level", "log level", func(c *Config) *string { return &c.Log.Level }, "debug", "info", "warn", "error"),
	choiceSetting("log_format", "log format", func(c *Config) *string { return &c.Log.Format }, "auto", "console", "json"),
	durationSetting("progress_interval", "how often long work (planning, applying, exporting) logs its progress: records in JSON, a live line on a terminal (0s: never)",
		func(c *Config) *time.Duration { return &c.Log.ProgressInterval }, 0),
	{key: "schedule", usage: "schedule command: when runs start, five cron fields or a descriptor like @every 5m",
		get: func(c *Config) string { return c.Schedule.Spec },
		set: func(c *Config, v string) error {
			if _, err := cron.ParseStandard(v); err != nil {
				return fmt.Errorf("not a cron schedule: %w", err)
			}
			if err := checkSchedule(v); err != nil {
				return err
			}
			c.Schedule.Spec = v
			return nil
		}},
	{key: "time_zone", usage: "schedule command: IANA time zone the schedule is read in",
		get: func(c *Config) string { return c.Schedule.Location.String() },
		set: func(c *Config, v string) error {
			loc, err := time.LoadLocation(v)
			if err != nil {
				return fmt.Errorf("not a time zone like UTC or Europe/Berlin: %q", v)
			}
			c.Schedule.Location = loc
			return nil
		}},
	{key: "listen_address", usage: "schedule command: host:port serving /healthz, /readyz and /metrics",
		get: func(c *Config) string { return c.Schedule.ListenAddress },
		set: func(c *Config, v string) error {
			if _, _, err := net.SplitHostPort(v); err != nil {
				return fmt.Errorf("not host:port like :9090: %q", v)
			}
			c.Schedule.ListenAddress = v
			return nil
		}},
	{key: "pushgateway_url", usage: "run: push metrics to this Prometheus Pushgateway when the run ends (empty: do not push)", secret: true,
		get: func(c *Config) string { return c.Metrics.PushgatewayURL },
		set: func(c *Config, v string) error {
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fmt.Errorf("not an http(s) URL: %q", v)
			}
			c.Metrics.PushgatewayURL = v
			return nil
		}},
}

// Group is a set of settings that a subcommand reads.
type Group string

// The groups of settings. Every subcommand reads the database and log
// settings; the others only where they mean something.
const (
	GroupDatabase Group = "database"
	GroupLog      Group = "log"
	GroupPolicy   Group = "policy"   // the refund policy and the settle delay
	GroupLimits   Group = "limits"   // the safety limits of an applying run
	GroupRun      Group = "run"      // planning and applying: batches, scope, shards, retries
	GroupSchedule Group = "schedule" // the schedule command's
	GroupMetrics  Group = "metrics"  // the Pushgateway
	GroupFinance  Group = "finance"  // the price of a Connect
)

// groupOf says which group each setting belongs to (TestEverySettingHasAGroup).
var groupOf = map[string]Group{
	"database_url": GroupDatabase, "replica_database_url": GroupDatabase, "statement_timeout": GroupDatabase,
	"lock_timeout": GroupDatabase, "connect_timeout": GroupDatabase, "stall_timeout": GroupDatabase,
	"log_level": GroupLog, "log_format": GroupLog, "progress_interval": GroupLog,
	"settle_delay": GroupPolicy, "tos_removed": GroupPolicy, "tos_removed_boost": GroupPolicy,
	"closed_without_hire": GroupPolicy, "closed_without_hire_boost": GroupPolicy, "refund_declined": GroupPolicy,
	"boost_outbid": GroupPolicy, "eligible_interactions": GroupPolicy,
	"max_refunds": GroupLimits, "max_connects": GroupLimits,
	"batch_size": GroupRun, "apply_batch_size": GroupRun, "parallel": GroupRun, "retries": GroupRun,
	"retry_backoff": GroupRun, "full": GroupRun, "lookback": GroupRun, "shard": GroupRun, "shard_count": GroupRun,
	"max_replica_lag": GroupRun, "apply_batch_time": GroupRun, "apply_lock_timeout": GroupRun, "apply_max_replica_lag": GroupRun,
	"schedule": GroupSchedule, "time_zone": GroupSchedule, "listen_address": GroupSchedule,
	"pushgateway_url":   GroupMetrics,
	"price_per_connect": GroupFinance,
}

func lookup(key string) (setting, bool) {
	for _, s := range settings {
		if s.key == key {
			return s, true
		}
	}
	return setting{}, false
}

// Flags are the configuration flags registered on a command's flag set.
type Flags struct {
	fs     *flag.FlagSet
	file   *string
	values map[string]string // flag values, by key, as given
	groups map[Group]bool    // nil: every group
}

// reads tells whether the command reads the setting.
func (f *Flags) reads(key string) bool {
	return f.groups == nil || f.groups[groupOf[key]]
}

// Register adds --config and a flag per setting of the groups to fs (the
// database and log settings always; every setting when no group is named).
// Load reads only those: a setting of another group in the file or the
// environment is left alone, neither applied nor checked, so one file can
// serve every command.
func Register(fs *flag.FlagSet, groups ...Group) *Flags {
	f := &Flags{fs: fs, values: map[string]string{}}
	if len(groups) > 0 {
		f.groups = map[Group]bool{GroupDatabase: true, GroupLog: true}
		for _, g := range groups {
			f.groups[g] = true
		}
	}
	f.file = fs.String("config", "", "JSON file of settings keyed like the flags with _ for - (env "+EnvPrefix+"CONFIG)")
	def := Default()
	for _, s := range settings {
		if !f.reads(s.key) {
			continue
		}
		key := s.key
		usage := s.usage + " (env " + s.Env() + ")"
		record := func(v string) error {
			f.values[key] = v
			return nil
		}
		if s.isBool {
			fs.BoolFunc(s.Flag(), usage+defaultNote(s, &def), record)
		} else {
			fs.Func(s.Flag(), usage+defaultNote(s, &def), record)
		}
	}
	return f
}

func defaultNote(s setting, def *Config) string {
	v := s.get(def)
	if v == "" || s.secret {
		return ""
	}
	return " (default " + v + ")"
}

// Load builds the Config from defaults, the file, the environment and the
// flags, and validates it. Every problem is reported, joined.
func (f *Flags) Load(getenv func(string) string) (Config, error) {
	cfg := Default()
	var errs []error
	apply := func(source, key, v string) {
		s, _ := lookup(key)
		if err := s.set(&cfg, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", source, err))
		}
	}

	path := *f.file
	if path == "" {
		path = getenv(EnvPrefix + "CONFIG")
	}
	if path != "" {
		fileValues, err := readFile(path)
		if err != nil {
			errs = append(errs, err)
		}
		for _, key := range sortedKeys(fileValues) {
			if f.reads(key) {
				apply(fmt.Sprintf("config file %s: %s", path, key), key, fileValues[key])
			}
		}
	}
	for _, s := range settings {
		if !f.reads(s.key) {
			continue
		}
		if v := getenv(s.Env()); v != "" {
			apply("env "+s.Env(), s.key, v)
		}
	}
	for _, key := range sortedKeys(f.values) {
		s, _ := lookup(key)
		apply("flag --"+s.Flag(), key, f.values[key])
	}
	if cfg.ShardCount > 1 && !cfg.Run.Shard.Sharded() {
		if idx := getenv("JOB_COMPLETION_INDEX"); idx != "" {
			sh, err := reconcile.ParseShard(idx + "/" + strconv.FormatInt(cfg.ShardCount, 10))
			if err != nil {
				errs = append(errs, fmt.Errorf("env JOB_COMPLETION_INDEX with shard_count: %w", err))
			}
			cfg.Run.Shard = sh
		} else {
			errs = append(errs, errors.New("shard_count: set, but neither --shard nor JOB_COMPLETION_INDEX says which shard"))
		}
	}
	if cfg.Database.URL == "" {
		errs = append(errs, errors.New("database url: not set (DATABASE_URL or --database-url)"))
	} else if err := checkDSN(cfg.Database.URL); err != nil {
		errs = append(errs, fmt.Errorf("database url: %w", err))
	}
	if cfg.Database.ReplicaURL != "" {
		if err := checkDSN(cfg.Database.ReplicaURL); err != nil {
			errs = append(errs, fmt.Errorf("replica database url: %w", err))
		}
	}
	if cfg.Database.StallTimeout > 0 && cfg.Database.StatementTimeout == 0 {
		// A statement with no server-side bound may rightly run past any
		// client-side one: the stall bound would cut it off as a stall.
		errs = append(errs, fmt.Errorf("stall_timeout: %s with statement_timeout 0s (no limit) could cut off a statement PostgreSQL is still running; "+
			"set a statement_timeout shorter than stall_timeout, or stall_timeout 0s too", cfg.Database.StallTimeout))
	}
	if cfg.Database.StallTimeout > 0 && cfg.Database.StatementTimeout > 0 && cfg.Database.StallTimeout <= cfg.Database.StatementTimeout {
		errs = append(errs, fmt.Errorf("stall_timeout: must be longer than statement_timeout (%s), or a statement PostgreSQL is still running would be cut off; got %s",
			cfg.Database.StatementTimeout, cfg.Database.StallTimeout))
	}
	if len(errs) > 0 {
		return cfg, &Error{Problems: errs}
	}
	return cfg, nil
}

// Error lists every problem found in the configuration.
type Error struct{ Problems []error }

func (e *Error) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Error()
	}
	return "invalid configuration:\n  " + strings.Join(msgs, "\n  ")
}

// Unwrap returns the problems.
func (e *Error) Unwrap() []error { return e.Problems }

// readFile reads a JSON object of settings. Values may be strings, numbers,
// booleans, or (for lists) arrays of strings.
func readFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("config file %s: not a JSON object: %w", path, err)
	}
	out := map[string]string{}
	var errs []error
	for _, key := range sortedKeys(raw) {
		if _, ok := lookup(key); !ok {
			errs = append(errs, fmt.Errorf("config file %s: unknown setting %q", path, key))
			continue
		}
		v, err := scalar(raw[key])
		if err != nil {
			errs = append(errs, fmt.Errorf("config file %s: %s: %w", path, key, err))
			continue
		}
		out[key] = v
	}
	return out, errors.Join(errs...)
}

func scalar(raw json.RawMessage) (string, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return strings.Join(list, ","), nil
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String(), nil
	}
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return strconv.FormatBool(b), nil
	}
	return "", errors.New("must be a string, number, boolean or list of strings")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Fields returns every setting as key and value for logging once at start,
// with secrets masked.
func (c Config) Fields(mask func(string) string) [][2]string {
	out := make([][2]string, 0, len(settings))
	for _, s := range settings {
		v := s.get(&c)
		if s.secret {
			v = mask(v)
		}
		out = append(out, [2]string{s.key, v})
	}
	return out
}

// Changed returns the settings whose values differ from their defaults, as
// key and value, with secrets masked: what a compact log line needs.
func (c Config) Changed() [][2]string {
	def := Default()
	var out [][2]string
	for _, s := range settings {
		v := s.get(&c)
		if v == s.get(&def) {
			continue
		}
		if s.secret {
			v = Redact(v)
		}
		out = append(out, [2]string{s.key, v})
	}
	return out
}
