// Command kustomize prints what `kubectl kustomize DIR` would, for machines
// without kubectl, after the same strict decoding the checks use:
//
//	cd k8s && go run ./cmd/kustomize overlays/cronjob
package main

import (
	"fmt"
	"os"

	"github.com/connects/connects-reconciler/k8s/render"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: kustomize DIR")
		os.Exit(2)
	}
	objs, err := render.Kustomization(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "kustomize:", err)
		os.Exit(1)
	}
	for i, o := range objs {
		if i > 0 {
			fmt.Println("---")
		}
		os.Stdout.Write(o.YAML)
	}
}
