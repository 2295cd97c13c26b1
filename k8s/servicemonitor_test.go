package k8s_test

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/connects/connects-reconciler/k8s/render"
	"github.com/connects/connects-reconciler/reconcile/prometheus"
)

// serviceMonitor is the part of monitoring.coreos.com/v1 ServiceMonitor the
// component uses; decoded strictly, so a misspelled field fails.
type serviceMonitor struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Interval      string `json:"interval"`
			ScrapeTimeout string `json:"scrapeTimeout"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// operatorObjects renders a kustomization that takes the monitoring
// component: the ServiceMonitors (strictly, by the struct above), and every
// other object but the PrometheusRule strictly into its k8s.io/api type.
func operatorObjects(t *testing.T, dir string) (typed []any, monitors []serviceMonitor) {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resMap, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize %s: %v", dir, err)
	}
	for _, res := range resMap.Resources() {
		y, err := res.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		switch res.GetKind() {
		case "PrometheusRule":
		case "ServiceMonitor":
			var m serviceMonitor
			if err := yaml.UnmarshalStrict(y, &m); err != nil {
				t.Fatalf("%s: ServiceMonitor %s: %v", dir, res.GetName(), err)
			}
			monitors = append(monitors, m)
		default:
			obj, err := render.Decode(y)
			if err != nil {
				t.Fatalf("%s: %s %s: %v", dir, res.GetKind(), res.GetName(), err)
			}
			typed = append(typed, obj)
		}
	}
	return typed, monitors
}

// namedPort reports whether the pod template declares a container port named
// name, and its number.
func namedPort(pod corev1.PodSpec, name string) (int32, bool) {
	for _, c := range pod.Containers {
		for _, p := range c.Ports {
			if p.Name == name {
				return p.ContainerPort, true
			}
		}
	}
	return 0, false
}

// With the monitoring component, the Prometheus Operator scrapes the
// schedule overlay's processes: a Service whose endpoints are both
// Deployments' metrics ports, named like the pushes' job, and a
// ServiceMonitor that selects it and scrapes /metrics on that port. With the
// CronJobs the same component scrapes no pod (they push).
func TestServiceMonitorScrapesSchedule(t *testing.T) {
	t.Parallel()
	objs, monitors := operatorObjects(t, "testdata/prometheus-operator-schedule")
	var svcs []*corev1.Service
	var deploys []*appsv1.Deployment
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.Service:
			svcs = append(svcs, o)
		case *appsv1.Deployment:
			deploys = append(deploys, o)
		}
	}
	if len(svcs) != 1 || len(monitors) != 1 || len(deploys) != 2 {
		t.Fatalf("schedule with the monitoring component: %d Services, %d ServiceMonitors, %d Deployments; want 1, 1 and 2",
			len(svcs), len(monitors), len(deploys))
	}
	svc, sm := svcs[0], monitors[0]
	if svc.Name != prometheus.Job {
		t.Errorf("Service %s: the scrape's job label is the Service's name; want %q, the pushes' job, so one rule selects both modes",
			svc.Name, prometheus.Job)
	}
	if sm.APIVersion != "monitoring.coreos.com/v1" || sm.Kind != "ServiceMonitor" {
		t.Errorf("ServiceMonitor: %s %s", sm.APIVersion, sm.Kind)
	}
	if len(sm.Spec.Selector.MatchLabels) == 0 ||
		!labels.SelectorFromSet(sm.Spec.Selector.MatchLabels).Matches(labels.Set(svc.Labels)) {
		t.Errorf("ServiceMonitor %s selects %v; the Service has labels %v", sm.Metadata.Name, sm.Spec.Selector.MatchLabels, svc.Labels)
	}
	if len(sm.Spec.Endpoints) != 1 {
		t.Fatalf("ServiceMonitor %s: %d endpoints, want 1", sm.Metadata.Name, len(sm.Spec.Endpoints))
	}
	ep := sm.Spec.Endpoints[0]
	if ep.Path != "/metrics" {
		t.Errorf("ServiceMonitor %s: path %q, want /metrics", sm.Metadata.Name, ep.Path)
	}
	var svcPort *corev1.ServicePort
	for i := range svc.Spec.Ports {
		if svc.Spec.Ports[i].Name == ep.Port {
			svcPort = &svc.Spec.Ports[i]
		}
	}
	if svcPort == nil {
		t.Fatalf("ServiceMonitor %s scrapes port %q; the Service has %+v", sm.Metadata.Name, ep.Port, svc.Spec.Ports)
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	if len(svc.Spec.Selector) == 0 {
		t.Fatal("the Service selects no pods")
	}
	for _, d := range deploys {
		if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("Deployment %s: its pods (%v) are not selected by the Service (%v)", d.Name, d.Spec.Template.Labels, svc.Spec.Selector)
		}
		port, ok := namedPort(d.Spec.Template.Spec, svcPort.TargetPort.String())
		if !ok {
			t.Errorf("Deployment %s: no container port named %q, the Service's target", d.Name, svcPort.TargetPort.String())
			continue
		}
		c := d.Spec.Template.Spec.Containers[0]
		if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Port.String() != svcPort.TargetPort.String() {
			t.Errorf("Deployment %s: the readiness probe is not on the metrics port %q (%d): /metrics and /readyz share the listen address",
				d.Name, svcPort.TargetPort.String(), port)
		}
	}

	// the CronJobs push: no pod of theirs has the port the Service targets
	objs, monitors = operatorObjects(t, "testdata/prometheus-operator")
	if len(monitors) != 1 {
		t.Errorf("cronjob with the monitoring component: %d ServiceMonitors, want 1", len(monitors))
	}
	for _, o := range objs {
		if cj, ok := o.(*batchv1.CronJob); ok {
			if _, ok := namedPort(cj.Spec.JobTemplate.Spec.Template.Spec, svcPort.TargetPort.String()); ok {
				t.Errorf("CronJob %s: its pods have a port %q: the Service would scrape run pods, which push", cj.Name, svcPort.TargetPort.String())
			}
		}
	}
}
