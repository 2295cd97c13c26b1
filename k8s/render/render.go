// Package render renders kustomizations with the kustomize API (what
// `kubectl kustomize` does) and decodes the result strictly into the
// k8s.io/api types, as the API server would with fieldValidation=Strict.
package render

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Object is one rendered manifest, as YAML and as its typed object.
type Object struct {
	Kind, Name string
	YAML       []byte
	Typed      runtime.Object
}

// Kustomization renders the kustomization in dir and decodes every object
// strictly: an unknown field, a duplicate field or a kind outside core/v1,
// apps/v1 and batch/v1 is an error.
func Kustomization(dir string) ([]Object, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resMap, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: %w", dir, err)
	}
	var out []Object
	for _, res := range resMap.Resources() {
		y, err := res.AsYAML()
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", res.GetKind(), res.GetName(), err)
		}
		typed, err := Decode(y)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", res.GetKind(), res.GetName(), err)
		}
		out = append(out, Object{Kind: res.GetKind(), Name: res.GetName(), YAML: y, Typed: typed})
	}
	return out, nil
}

var scheme = runtime.NewScheme()

func init() {
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
}

// strict is the API machinery's YAML decoder in strict mode: unknown and
// duplicate fields are errors.
var strict = json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme, scheme,
	json.SerializerOptions{Yaml: true, Strict: true})

// Decode decodes one YAML manifest strictly into its k8s.io/api type.
func Decode(y []byte) (runtime.Object, error) {
	obj, _, err := strict.Decode(y, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("strict decoding: %w", err)
	}
	return obj, nil
}
