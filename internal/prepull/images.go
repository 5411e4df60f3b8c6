// Package prepull fetches every container image of the rendered platform
// onto the cluster's nodes while the components install, so that each
// stage starts from local images instead of pulling its own when it gets
// there: on a laptop the pulls, not the installs, are the long wait.
//
// The image list comes from the rendered objects (Images), never from a
// list kept by hand; a Puller fetches one image (the k3d node's own
// `crictl pull`, or a short-lived Pod on an existing cluster), and Run
// drives a bounded number of pulls at once and reports them. A pull that
// fails is a warning: the stage that needs the image pulls it again.
package prepull

import (
	"encoding/json"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/neuroscale-dev/neuroscale/internal/render"
)

// Image is one image of the platform and the first object that runs it.
type Image struct {
	// Ref is the reference as written in the object (tag and/or digest).
	Ref string `json:"image"`
	// Component is the component whose object names the image, Step its
	// step (Helm release or manifest set): of the steps that name it, the
	// first in install order of those that need it soonest (pullOrder).
	Component string `json:"component"`
	Step      string `json:"step"`
	// Source is that object, Kind/namespace/name, and the field for
	// images not in a pod template (e.g. a ConfigMap key).
	Source string `json:"source"`
}

// PodSpecPath returns where objects of kind keep their pod spec, false
// for kinds that run no pods. Platform rules on containers
// (internal/validate) walk the same fields.
func PodSpecPath(kind string) ([]string, bool) {
	p, ok := podSpecPaths[kind]
	return p, ok
}

// podSpecPaths are where each workload kind keeps its pod spec.
var podSpecPaths = map[string][]string{
	"Pod":         {"spec"},
	"Deployment":  {"spec", "template", "spec"},
	"StatefulSet": {"spec", "template", "spec"},
	"DaemonSet":   {"spec", "template", "spec"},
	"ReplicaSet":  {"spec", "template", "spec"},
	"Job":         {"spec", "template", "spec"},
	"CronJob":     {"spec", "jobTemplate", "spec", "template", "spec"},
}

// runHooks are the Helm hook events an install or upgrade runs; hooks only
// for tests, deletion or rollback never run during up, so their images are
// not pulled ahead (Kyverno's chart has test Pods at :latest).
var runHooks = []string{"pre-install", "post-install", "pre-upgrade", "post-upgrade"}

// Images lists the images p runs, each once, in the order to pull them
// (pullOrder): the images of the steps that start at once and head the
// longest chains of the stage graph first, ties in install order. They are the
// containers and init containers of every workload's pod template, the
// model server images of KServe's serving runtimes, the images KServe and
// Knative inject into the demo's pods (the storage initializer, from a
// ClusterStorageContainer or KServe's inferenceservice-config; the
// queue-proxy sidecar, from Knative's config-deployment or its caching
// Image) and the images of the Helm hooks up runs.
func Images(p *render.Platform) []Image {
	prio := priorities(stepGraph(p))
	var out []Image
	seen := map[string]int{}
	add := func(comp, step, source, ref string) {
		ref = strings.TrimSpace(ref)
		if ref == "" {
			return
		}
		img := Image{Ref: ref, Component: comp, Step: step, Source: source}
		i, ok := seen[ref]
		switch {
		case !ok:
			seen[ref] = len(out)
			out = append(out, img)
		case prio[comp+"/"+step].Compare(prio[out[i].Component+"/"+out[i].Step]) < 0:
			// A step that needs it sooner: it is pulled for that one.
			out[i] = img
		}
	}
	for _, c := range p.Components {
		for _, s := range c.Steps {
			for _, o := range s.Objects {
				if !runsOnInstall(o) {
					continue
				}
				src := o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
				for _, ref := range objectImages(o) {
					where := src
					if ref.field != "" {
						where += " " + ref.field
					}
					add(c.Name, s.Name, where, ref.ref)
				}
			}
		}
	}
	pullOrder(out, prio)
	return out
}

// fieldRef is an image and, when it is not in a pod spec, where it is.
type fieldRef struct{ ref, field string }

// objectImages are the images named by one rendered object.
func objectImages(o *unstructured.Unstructured) []fieldRef {
	if path, ok := PodSpecPath(o.GetKind()); ok {
		spec, _, _ := unstructured.NestedMap(o.Object, path...)
		return podSpecImages(spec)
	}
	group := o.GroupVersionKind().Group
	switch {
	case group == "serving.kserve.io" && (o.GetKind() == "ClusterServingRuntime" || o.GetKind() == "ServingRuntime"):
		// The model server containers of the runtime; KServe copies them
		// into the predictor pod of an InferenceService that uses it.
		spec, _, _ := unstructured.NestedMap(o.Object, "spec")
		return podSpecImages(spec)
	case group == "serving.kserve.io" && o.GetKind() == "ClusterStorageContainer":
		img, _, _ := unstructured.NestedString(o.Object, "spec", "container", "image")
		return []fieldRef{{ref: img}}
	case group == "caching.internal.knative.dev" && o.GetKind() == "Image":
		img, _, _ := unstructured.NestedString(o.Object, "spec", "image")
		return []fieldRef{{ref: img}}
	case o.GetKind() == "ConfigMap":
		return configMapImages(o)
	}
	return nil
}

// podSpecImages are a pod spec's init containers' and containers' images.
func podSpecImages(spec map[string]any) []fieldRef {
	var out []fieldRef
	for _, key := range []string{"initContainers", "containers"} {
		cs, _, _ := unstructured.NestedSlice(spec, key)
		for _, c := range cs {
			if m, ok := c.(map[string]any); ok {
				if img, ok := m["image"].(string); ok {
					out = append(out, fieldRef{ref: img})
				}
			}
		}
	}
	return out
}

// configMapImages reads the two configurations that name images injected
// into pods at run time: Knative's queue-proxy sidecar and KServe's
// storage initializer. KServe's other entries (agent, router, batcher,
// explainers) are used only by features the platform does not turn on.
func configMapImages(o *unstructured.Unstructured) []fieldRef {
	data, _, _ := unstructured.NestedStringMap(o.Object, "data")
	switch {
	case o.GetNamespace() == "knative-serving" && o.GetName() == "config-deployment":
		return []fieldRef{{ref: data["queue-sidecar-image"], field: "queue-sidecar-image"}}
	case o.GetName() == "inferenceservice-config":
		var si struct {
			Image string `json:"image"`
		}
		if err := json.Unmarshal([]byte(data["storageInitializer"]), &si); err != nil {
			return nil
		}
		return []fieldRef{{ref: si.Image, field: "storageInitializer"}}
	}
	return nil
}

// runsOnInstall reports whether up creates o: every object that is not a
// Helm hook, and the hooks of an install or upgrade.
func runsOnInstall(o *unstructured.Unstructured) bool {
	hook, ok := o.GetAnnotations()["helm.sh/hook"]
	if !ok {
		return true
	}
	for _, h := range strings.Split(hook, ",") {
		if slices.Contains(runHooks, strings.TrimSpace(h)) {
			return true
		}
	}
	return false
}

// Refs returns the references of imgs.
func Refs(imgs []Image) []string {
	out := make([]string, len(imgs))
	for i, img := range imgs {
		out[i] = img.Ref
	}
	return out
}
