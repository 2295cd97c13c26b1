package k8s

import (
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psa "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"

	"github.com/connects/connects-reconciler/config"
	"github.com/connects/connects-reconciler/k8s/render"
)

// The names the manifests and the operations documentation agree on.
const (
	container     = "reconciler"
	secretName    = "connects-reconciler-database"
	secretKey     = "url"
	configMapName = "connects-reconciler-config"
	configPath    = "/etc/connects-reconciler/config.json"
)

// kustomizations are the directories every check covers; each must render.
var kustomizations = []string{
	"base", "overlays/cronjob", "overlays/sharded", "overlays/schedule", "overlays/migrate", "overlays/dry-run",
}

// TestEveryKustomizationIsChecked fails when a kustomization is added
// without being listed here, so none escapes the checks.
func TestEveryKustomizationIsChecked(t *testing.T) {
	t.Parallel()
	var found []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Name() == "kustomization.yaml" && !strings.HasPrefix(path, "components/") && !strings.HasPrefix(path, "testdata/") {
			found = append(found, filepath.Dir(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(kustomizations)
	sort.Strings(found)
	sort.Strings(want)
	if !slices.Equal(found, want) {
		t.Errorf("kustomizations on disk: got %v, want %v", found, want)
	}
}

// rendered holds each kustomization's objects, rendered once.
var rendered = map[string][]render.Object{}

func TestMain(m *testing.M) {
	flag.Parse()
	for _, dir := range kustomizations {
		objs, err := render.Kustomization(dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, "render:", err)
			os.Exit(1)
		}
		rendered[dir] = objs
	}
	os.Exit(m.Run())
}

// workload is one pod template and what owns it.
type workload struct {
	dir, kind, name string
	meta            metav1.ObjectMeta
	pod             corev1.PodSpec
	job             *batchv1.JobSpec       // Jobs and CronJobs
	cron            *batchv1.CronJobSpec   // CronJobs
	deploy          *appsv1.DeploymentSpec // Deployments
}

func (w workload) String() string { return w.dir + ": " + w.kind + " " + w.name }

// workloads lists every pod template the kustomizations render.
func workloads(t *testing.T) []workload {
	t.Helper()
	var out []workload
	for _, dir := range kustomizations {
		for _, o := range rendered[dir] {
			w := workload{dir: dir, kind: o.Kind, name: o.Name}
			switch obj := o.Typed.(type) {
			case *batchv1.CronJob:
				w.cron, w.job = &obj.Spec, &obj.Spec.JobTemplate.Spec
				w.meta, w.pod = obj.Spec.JobTemplate.Spec.Template.ObjectMeta, obj.Spec.JobTemplate.Spec.Template.Spec
			case *batchv1.Job:
				w.job = &obj.Spec
				w.meta, w.pod = obj.Spec.Template.ObjectMeta, obj.Spec.Template.Spec
			case *appsv1.Deployment:
				w.deploy = &obj.Spec
				w.meta, w.pod = obj.Spec.Template.ObjectMeta, obj.Spec.Template.Spec
			case *corev1.ServiceAccount, *corev1.ConfigMap:
				continue
			default:
				t.Errorf("%s: %s %s: a kind the checks do not know", dir, o.Kind, o.Name)
				continue
			}
			out = append(out, w)
		}
	}
	return out
}

func TestStrictDecodingCatchesMistakes(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"unknown field": `
apiVersion: batch/v1
kind: CronJob
metadata: {name: x}
spec:
  schedule: "* * * * *"
  concurencyPolicy: Forbid
  jobTemplate: {spec: {template: {spec: {containers: [{name: a, image: b}]}}}}
`,
		"duplicate field": `
apiVersion: batch/v1
kind: Job
metadata: {name: x}
spec:
  backoffLimit: 1
  backoffLimit: 6
  template: {spec: {containers: [{name: a, image: b}]}}
`,
		"unknown kind": `
apiVersion: example.com/v1
kind: Widget
metadata: {name: x}
`,
	}
	for name, y := range tests {
		if _, err := render.Decode([]byte(y)); err == nil {
			t.Errorf("%s: decoded without error; want the strict decoder to refuse it", name)
		}
	}
}

func TestRenderedObjects(t *testing.T) {
	t.Parallel()
	want := map[string][]string{
		"base":              {"ConfigMap/connects-reconciler-config", "ServiceAccount/connects-reconciler"},
		"overlays/cronjob":  {"ConfigMap/connects-reconciler-config", "CronJob/connects-reconciler", "CronJob/connects-reconciler-full", "ServiceAccount/connects-reconciler"},
		"overlays/sharded":  {"ConfigMap/connects-reconciler-config", "CronJob/connects-reconciler", "CronJob/connects-reconciler-full", "ServiceAccount/connects-reconciler"},
		"overlays/schedule": {"ConfigMap/connects-reconciler-config", "Deployment/connects-reconciler", "Deployment/connects-reconciler-full", "ServiceAccount/connects-reconciler"},
		"overlays/migrate":  {"ConfigMap/connects-reconciler-config", "Job/connects-reconciler-migrate", "ServiceAccount/connects-reconciler"},
		"overlays/dry-run":  {"ConfigMap/connects-reconciler-config", "Job/connects-reconciler-dry-run", "ServiceAccount/connects-reconciler"},
	}
	for dir, names := range want {
		var got []string
		for _, o := range rendered[dir] {
			name := o.Name
			if o.Kind == "ConfigMap" { // the generator appends a content hash
				name = name[:strings.LastIndex(name, "-")]
			}
			got = append(got, o.Kind+"/"+name)
		}
		sort.Strings(got)
		if !slices.Equal(got, names) {
			t.Errorf("%s renders %v, want %v", dir, got, names)
		}
	}
	for _, o := range rendered["base"] {
		if sa, ok := o.Typed.(*corev1.ServiceAccount); ok && (sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken) {
			t.Errorf("ServiceAccount %s: automountServiceAccountToken must be false", sa.Name)
		}
	}
}

// TestPodSecurityRestricted holds every pod to the "restricted" Pod Security
// Standard as the admission controller would, at the latest version.
func TestPodSecurityRestricted(t *testing.T) {
	t.Parallel()
	eval, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	level := psa.LevelVersion{Level: psa.LevelRestricted, Version: psa.LatestVersion()}
	for _, w := range workloads(t) {
		res := policy.AggregateCheckResults(eval.EvaluatePod(level, &w.meta, &w.pod))
		if !res.Allowed {
			t.Errorf("%s: violates restricted: %s", w, res.ForbiddenDetail())
		}
	}
}

// TestPods checks what every pod must have beyond the standard: no service
// account token, a read-only root file system, resources bounded, the
// database URL from the Secret and the configuration from the ConfigMap, and
// a configuration the binary's own loader accepts.
func TestPods(t *testing.T) {
	t.Parallel()
	known := knownEnv()
	for _, w := range workloads(t) {
		p := w.pod
		if p.AutomountServiceAccountToken == nil || *p.AutomountServiceAccountToken {
			t.Errorf("%s: automountServiceAccountToken must be false", w)
		}
		if p.SecurityContext == nil || p.SecurityContext.RunAsNonRoot == nil || !*p.SecurityContext.RunAsNonRoot {
			t.Errorf("%s: pod securityContext.runAsNonRoot must be true", w)
		}
		if g := p.TerminationGracePeriodSeconds; g == nil || *g < 30 {
			t.Errorf("%s: terminationGracePeriodSeconds %v; want at least 30 (cancel the batch, record the run)", w, g)
		}
		if len(p.Containers) != 1 || p.Containers[0].Name != container || len(p.InitContainers) != 0 {
			t.Errorf("%s: want one container named %q", w, container)
			continue
		}
		c := p.Containers[0]
		if c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
			t.Errorf("%s: readOnlyRootFilesystem must be true", w)
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, lim := c.Resources.Requests[r], c.Resources.Limits[r]
			if req.IsZero() || lim.IsZero() || req.Cmp(lim) > 0 {
				t.Errorf("%s: %s request %s and limit %s: want both, request <= limit", w, r, req.String(), lim.String())
			}
		}
		if len(c.Command) != 0 {
			t.Errorf("%s: command %v; want the image's entrypoint", w, c.Command)
		}
		if len(c.Args) == 0 || !slices.Contains([]string{"run", "migrate", "schedule"}, c.Args[0]) {
			t.Errorf("%s: args %v; want run, migrate or schedule first", w, c.Args)
		}
		if !strings.HasPrefix(c.Image, "registry.example.com/connects/connects-reconciler:") {
			t.Errorf("%s: image %q; want the release component's image", w, c.Image)
		}

		env := map[string]string{}
		var fromSecret bool
		for _, e := range c.Env {
			if _, dup := env[e.Name]; dup {
				t.Errorf("%s: env %s set twice", w, e.Name)
			}
			env[e.Name] = e.Value
			if strings.HasPrefix(e.Name, config.EnvPrefix) && !known[e.Name] {
				t.Errorf("%s: env %s is no setting the binary reads", w, e.Name)
			}
			if e.Name == "DATABASE_URL" {
				ref := e.ValueFrom
				fromSecret = e.Value == "" && ref != nil && ref.SecretKeyRef != nil &&
					ref.SecretKeyRef.Name == secretName && ref.SecretKeyRef.Key == secretKey
				env[e.Name] = "postgres://reconciler@db.invalid/connects"
			}
			if e.Name == "REPLICA_DATABASE_URL" {
				// The replica's URL sits beside the primary's in the same
				// Secret, optional: without it the job plans on the primary.
				ref := e.ValueFrom
				if e.Value != "" || ref == nil || ref.SecretKeyRef == nil || ref.SecretKeyRef.Name != secretName ||
					ref.SecretKeyRef.Key != "replica_url" || ref.SecretKeyRef.Optional == nil || !*ref.SecretKeyRef.Optional {
					t.Errorf("%s: REPLICA_DATABASE_URL must come from Secret %s key replica_url, optional", w, secretName)
				}
			}
		}
		if !fromSecret {
			t.Errorf("%s: DATABASE_URL must come from Secret %s key %s", w, secretName, secretKey)
		}
		if len(c.EnvFrom) != 0 {
			t.Errorf("%s: envFrom hides typos; name each setting or use the config file", w)
		}
		if c.Args[0] != "migrate" {
			// Plans and reports spool to TMPDIR (the root filesystem is
			// read-only), and the Go heap keeps below the pod's limit.
			if env["TMPDIR"] == "" || !mountsWritable(w.pod, c, env["TMPDIR"]) {
				t.Errorf("%s: TMPDIR %q must be a writable emptyDir mount: plans spool there", w, env["TMPDIR"])
			}
			limit := c.Resources.Limits[corev1.ResourceMemory]
			soft, err := resource.ParseQuantity(strings.TrimSuffix(env["GOMEMLIMIT"], "B"))
			if err != nil || soft.Cmp(limit) >= 0 || soft.Value() < limit.Value()/2 {
				t.Errorf("%s: GOMEMLIMIT %q must be set below the memory limit %s (and not far below)", w, env["GOMEMLIMIT"], limit.String())
			}
		}
		if env[config.EnvPrefix+"CONFIG"] != configPath {
			t.Errorf("%s: RECONCILER_CONFIG %q, want %s", w, env[config.EnvPrefix+"CONFIG"], configPath)
		}
		data := mountedConfig(t, w, c)
		if data == "" {
			continue
		}
		// The binary's own loader, with the pod's environment and the
		// ConfigMap's file, must accept the configuration.
		file := filepath.Join(t.TempDir(), "config.json")
		if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		env[config.EnvPrefix+"CONFIG"] = file
		if w.job != nil && w.job.CompletionMode != nil && *w.job.CompletionMode == batchv1.IndexedCompletion {
			env["JOB_COMPLETION_INDEX"] = "0"
		}
		fl := config.Register(flag.NewFlagSet("check", flag.ContinueOnError))
		cfg, err := fl.Load(func(k string) string { return env[k] })
		if err != nil {
			t.Errorf("%s: the binary would refuse this configuration: %v", w, err)
			continue
		}
		checkConfig(t, w, c, cfg)
	}
}

// mountsWritable tells whether path is a writable emptyDir mount of c.
func mountsWritable(pod corev1.PodSpec, c corev1.Container, path string) bool {
	for _, m := range c.VolumeMounts {
		if m.MountPath != path || m.ReadOnly {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name == m.Name && v.EmptyDir != nil {
				return true
			}
		}
	}
	return false
}

// knownEnv is every RECONCILER_ variable the binary reads.
func knownEnv() map[string]bool {
	fs := flag.NewFlagSet("env", flag.ContinueOnError)
	config.Register(fs)
	known := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) {
		known[config.EnvPrefix+strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))] = true
	})
	return known
}

// mountedConfig returns the config.json the container sees at configPath,
// from the ConfigMap rendered beside it.
func mountedConfig(t *testing.T, w workload, c corev1.Container) string {
	t.Helper()
	var mount *corev1.VolumeMount
	for i, m := range c.VolumeMounts {
		if m.MountPath == filepath.Dir(configPath) {
			mount = &c.VolumeMounts[i]
		}
	}
	if mount == nil || !mount.ReadOnly {
		t.Errorf("%s: want a read-only volume mounted at %s", w, filepath.Dir(configPath))
		return ""
	}
	var cmName string
	for _, v := range w.pod.Volumes {
		if v.Name == mount.Name && v.ConfigMap != nil {
			cmName = v.ConfigMap.Name
		}
	}
	for _, o := range rendered[w.dir] {
		if cm, ok := o.Typed.(*corev1.ConfigMap); ok && cm.Name == cmName {
			if !strings.HasPrefix(cm.Name, configMapName+"-") {
				t.Errorf("%s: ConfigMap %s; want the generated %s-<hash>", w, cm.Name, configMapName)
			}
			if d, ok := cm.Data[filepath.Base(configPath)]; ok {
				return d
			}
		}
	}
	t.Errorf("%s: volume %s is no ConfigMap in the same kustomization with %s", w, mount.Name, filepath.Base(configPath))
	return ""
}

// checkConfig asserts what each kind of workload must be told.
func checkConfig(t *testing.T, w workload, c corev1.Container, cfg config.Config) {
	t.Helper()
	full := strings.HasSuffix(w.name, "-full")
	if cfg.Run.Full != full {
		t.Errorf("%s: full sweep %v; want %v (only the -full workloads sweep everything)", w, cfg.Run.Full, full)
	}
	if cfg.Limits.MaxRefunds == 0 || cfg.Limits.MaxConnects == 0 {
		t.Errorf("%s: safety limits %+v; production keeps both", w, cfg.Limits)
	}
	switch {
	case w.deploy != nil:
		if c.Args[0] != "schedule" {
			t.Errorf("%s: args %v; a Deployment runs the schedule command", w, c.Args)
		}
		_, port, _ := strings.Cut(cfg.Schedule.ListenAddress, ":")
		if len(c.Ports) != 1 || strconv.Itoa(int(c.Ports[0].ContainerPort)) != port {
			t.Errorf("%s: container ports %v; want the listen address %s", w, c.Ports, cfg.Schedule.ListenAddress)
		}
		if w.name == "connects-reconciler" && cfg.Schedule.Spec != "*/15 * * * *" {
			t.Errorf("%s: schedule %q; want every 15 minutes", w, cfg.Schedule.Spec)
		}
	case w.cron != nil:
		if c.Args[0] != "run" || slices.Contains(c.Args, "--dry-run") {
			t.Errorf("%s: args %v; a CronJob's pod runs `run` once", w, c.Args)
		}
		if cfg.Metrics.PushgatewayURL == "" {
			t.Errorf("%s: no pushgateway_url: a CronJob's metrics would be lost", w)
		}
	}
	if w.job != nil && w.job.CompletionMode != nil && *w.job.CompletionMode == batchv1.IndexedCompletion {
		if !cfg.Run.Shard.Sharded() || cfg.Run.Shard.Index != 0 || int64(cfg.Run.Shard.Count) != cfg.ShardCount {
			t.Errorf("%s: with JOB_COMPLETION_INDEX=0 the shard is %+v; want 0 of %d", w, cfg.Run.Shard, cfg.ShardCount)
		}
	}
}

// period is the shortest gap between consecutive times of a cron schedule
// over the next year, in its time zone.
func period(t *testing.T, w workload, spec, tz string) time.Duration {
	t.Helper()
	loc, err := time.LoadLocation(tz)
	if err != nil {
		t.Errorf("%s: timeZone %q: %v", w, tz, err)
		return 0
	}
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		t.Errorf("%s: schedule %q: %v", w, spec, err)
		return 0
	}
	shortest := time.Duration(1<<63 - 1)
	at := sched.Next(time.Date(2027, 1, 1, 0, 0, 0, 0, loc))
	for end := at.AddDate(1, 0, 0); at.Before(end); {
		next := sched.Next(at)
		shortest = min(shortest, next.Sub(at))
		at = next
	}
	return shortest
}

func seconds(p *int64) time.Duration {
	if p == nil {
		return 0
	}
	return time.Duration(*p) * time.Second
}

// TestCronJobs asserts the CronJob settings the operations rely on.
func TestCronJobs(t *testing.T) {
	t.Parallel()
	var n int
	for _, w := range workloads(t) {
		if w.cron == nil {
			continue
		}
		n++
		cj, job := w.cron, w.job
		if cj.ConcurrencyPolicy != batchv1.ForbidConcurrent {
			t.Errorf("%s: concurrencyPolicy %q, want Forbid", w, cj.ConcurrencyPolicy)
		}
		if cj.TimeZone == nil || *cj.TimeZone == "" {
			t.Errorf("%s: timeZone must be set", w)
			continue
		}
		every := period(t, w, cj.Schedule, *cj.TimeZone)
		if d := seconds(cj.StartingDeadlineSeconds); d <= 0 || d >= every {
			t.Errorf("%s: startingDeadlineSeconds %s; want set and below the period %s", w, d, every)
		}
		if d := seconds(job.ActiveDeadlineSeconds); d <= 0 || d >= every {
			t.Errorf("%s: activeDeadlineSeconds %s; want set and below the period %s", w, d, every)
		}
		if s, f := cj.SuccessfulJobsHistoryLimit, cj.FailedJobsHistoryLimit; s == nil || f == nil || *s < 1 || *f < 1 || *s > 10 || *f > 10 {
			t.Errorf("%s: history limits %v/%v; want both set, 1..10", w, s, f)
		}
		if w.pod.RestartPolicy != corev1.RestartPolicyNever {
			t.Errorf("%s: restartPolicy %q, want Never", w, w.pod.RestartPolicy)
		}
		checkJob(t, w)
	}
	if n == 0 {
		t.Fatal("no CronJob rendered")
	}
}

// TestJobs asserts the one-off Jobs: bounded, cleaned up, doing what their
// names say.
func TestJobs(t *testing.T) {
	t.Parallel()
	want := map[string][]string{
		"connects-reconciler-migrate": {"migrate"},
		"connects-reconciler-dry-run": {"run", "--dry-run", "--format", "json"},
	}
	for _, dir := range kustomizations {
		for _, o := range rendered[dir] {
			j, ok := o.Typed.(*batchv1.Job)
			if !ok {
				continue
			}
			w := workload{dir: dir, kind: "Job", name: j.Name, pod: j.Spec.Template.Spec, job: &j.Spec}
			args, known := want[j.Name]
			if !known {
				t.Errorf("%s: an unexpected Job", w)
				continue
			}
			if got := j.Spec.Template.Spec.Containers[0].Args; !slices.Equal(got, args) {
				t.Errorf("%s: args %v, want %v", w, got, args)
			}
			if j.Spec.TTLSecondsAfterFinished == nil || j.Spec.ActiveDeadlineSeconds == nil {
				t.Errorf("%s: want ttlSecondsAfterFinished and activeDeadlineSeconds", w)
			}
			if w.pod.RestartPolicy != corev1.RestartPolicyNever {
				t.Errorf("%s: restartPolicy %q, want Never", w, w.pod.RestartPolicy)
			}
			checkJob(t, w)
			delete(want, j.Name)
		}
	}
	if len(want) > 0 {
		t.Errorf("Jobs not rendered: %v", want)
	}
}

// checkJob asserts the retry policy of a Job or a CronJob's Jobs.
func checkJob(t *testing.T, w workload) {
	t.Helper()
	job := w.job
	if job.BackoffLimit == nil || *job.BackoffLimit > 4 {
		t.Errorf("%s: backoffLimit %v; want a small one", w, job.BackoffLimit)
	}
	if job.PodReplacementPolicy == nil || *job.PodReplacementPolicy != batchv1.Failed {
		t.Errorf("%s: podReplacementPolicy %v, want Failed", w, job.PodReplacementPolicy)
	}
	pfp := job.PodFailurePolicy
	if pfp == nil {
		t.Errorf("%s: no podFailurePolicy", w)
		return
	}
	indexed := job.CompletionMode != nil && *job.CompletionMode == batchv1.IndexedCompletion
	// Exit codes retrying cannot fix: 2 (configuration) always fails the
	// Job; 3 (safety limit) fails it, or only the shard's index.
	stops := map[int32]batchv1.PodFailurePolicyAction{}
	var ignoresDisruption bool
	for _, r := range pfp.Rules {
		if r.OnExitCodes != nil {
			if r.OnExitCodes.ContainerName == nil || *r.OnExitCodes.ContainerName != container || r.OnExitCodes.Operator != batchv1.PodFailurePolicyOnExitCodesOpIn {
				t.Errorf("%s: exit code rule %+v; want operator In on container %q", w, r.OnExitCodes, container)
			}
			for _, code := range r.OnExitCodes.Values {
				stops[code] = r.Action
			}
		}
		for _, c := range r.OnPodConditions {
			if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue && r.Action == batchv1.PodFailurePolicyActionIgnore {
				ignoresDisruption = true
			}
		}
	}
	if stops[2] != batchv1.PodFailurePolicyActionFailJob {
		t.Errorf("%s: exit code 2 (bad configuration): %q; want FailJob", w, stops[2])
	}
	if dry := w.name == "connects-reconciler-dry-run"; w.name != "connects-reconciler-migrate" || dry {
		want := batchv1.PodFailurePolicyActionFailJob
		if indexed {
			want = batchv1.PodFailurePolicyActionFailIndex
		}
		if stops[3] != want {
			t.Errorf("%s: exit code 3 (safety limit): %q; want %s", w, stops[3], want)
		}
	}
	// A run that finds the lock taken exits 0 (skipped); exit 4 is only a
	// person's reviewed plan (run --plan), which no workload here runs.
	if action, ok := stops[4]; ok {
		t.Errorf("%s: exit code 4 has a rule (%s); a scheduled run that finds the lock taken exits 0", w, action)
	}
	if _, retried := stops[1]; retried {
		t.Errorf("%s: exit code 1 (transient failure) must be retried, not %s", w, stops[1])
	}
	if !ignoresDisruption {
		t.Errorf("%s: want a rule ignoring DisruptionTarget (evictions, preemption)", w)
	}
	if indexed {
		if job.Completions == nil || job.Parallelism == nil || *job.Completions != *job.Parallelism || *job.Completions < 2 {
			t.Errorf("%s: Indexed with completions %v and parallelism %v; want equal, at least 2", w, job.Completions, job.Parallelism)
		}
		if job.BackoffLimitPerIndex == nil {
			t.Errorf("%s: Indexed without backoffLimitPerIndex: one shard's failures would use up the others' retries", w)
		}
		var count string
		for _, e := range w.pod.Containers[0].Env {
			if e.Name == config.EnvPrefix+"SHARD_COUNT" {
				count = e.Value
			}
		}
		if job.Completions != nil && count != strconv.Itoa(int(*job.Completions)) {
			t.Errorf("%s: RECONCILER_SHARD_COUNT %q; want the completions, %d", w, count, *job.Completions)
		}
	}
}

// TestSharded checks that the sharded overlay shards both CronJobs.
func TestSharded(t *testing.T) {
	t.Parallel()
	for _, o := range rendered["overlays/sharded"] {
		if cj, ok := o.Typed.(*batchv1.CronJob); ok {
			if m := cj.Spec.JobTemplate.Spec.CompletionMode; m == nil || *m != batchv1.IndexedCompletion {
				t.Errorf("overlays/sharded: CronJob %s is not Indexed", cj.Name)
			}
		}
	}
}

// TestDeployments asserts the schedule overlay's Deployments.
func TestDeployments(t *testing.T) {
	t.Parallel()
	var n int
	for _, w := range workloads(t) {
		if w.deploy == nil {
			continue
		}
		n++
		d := w.deploy
		if d.Replicas == nil || *d.Replicas != 1 {
			t.Errorf("%s: replicas %v, want 1", w, d.Replicas)
		}
		if d.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
			t.Errorf("%s: strategy %q, want Recreate: never two processes at once", w, d.Strategy.Type)
		}
		c := w.pod.Containers[0]
		if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
			t.Errorf("%s: liveness probe %+v; want GET /healthz", w, c.LivenessProbe)
		}
		if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
			t.Errorf("%s: readiness probe %+v; want GET /readyz", w, c.ReadinessProbe)
		}
		sel, err := metav1.LabelSelectorAsSelector(d.Selector)
		if err != nil || sel.Empty() {
			t.Errorf("%s: selector %v: %v", w, d.Selector, err)
		}
	}
	if n != 2 {
		t.Errorf("Deployments rendered: got %d, want 2 (incremental and full)", n)
	}
}
