// Package k8s holds the Kubernetes manifests of connects-reconciler (a
// kustomize base, a component and overlays) and, in its tests, the checks CI
// runs on them without a cluster: every kustomization is rendered with the
// kustomize API, every object strictly decoded into the k8s.io/api types,
// every pod held to the "restricted" Pod Security Standard, and the settings
// the operations rely on asserted. It is a module of its own so that the
// Kubernetes modules stay out of the binary's dependencies.
package k8s
