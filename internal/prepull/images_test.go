package prepull

import (
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/neuroscale-dev/neuroscale/internal/prepull/prepulltest"
	"github.com/neuroscale-dev/neuroscale/internal/render"
)

func obj(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	o := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &o.Object); err != nil {
		t.Fatal(err)
	}
	return o
}

func TestImagesFromObjects(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"deployment with init container", `
apiVersion: apps/v1
kind: Deployment
metadata: {name: d, namespace: n}
spec:
  template:
    spec:
      initContainers: [{name: i, image: busybox:1}]
      containers: [{name: a, image: app:1}, {name: b, image: sidecar:2}]`, []string{"busybox:1", "app:1", "sidecar:2"}},
		{"statefulset", `
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: s}
spec: {template: {spec: {containers: [{name: a, image: db:15}]}}}`, []string{"db:15"}},
		{"daemonset", `
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: s}
spec: {template: {spec: {containers: [{name: a, image: agent:1}]}}}`, []string{"agent:1"}},
		{"cronjob", `
apiVersion: batch/v1
kind: CronJob
metadata: {name: c}
spec: {jobTemplate: {spec: {template: {spec: {containers: [{name: a, image: cron:1}]}}}}}`, []string{"cron:1"}},
		{"install hook job", `
apiVersion: batch/v1
kind: Job
metadata: {name: j, annotations: {helm.sh/hook: "post-install,post-upgrade"}}
spec: {template: {spec: {containers: [{name: a, image: check:1}]}}}`, []string{"check:1"}},
		{"test hook pod is never run by up", `
apiVersion: v1
kind: Pod
metadata: {name: p, annotations: {helm.sh/hook: test}}
spec: {containers: [{name: a, image: "checker:latest"}]}`, nil},
		{"pre-delete hook job", `
apiVersion: batch/v1
kind: Job
metadata: {name: j, annotations: {helm.sh/hook: pre-delete}}
spec: {template: {spec: {containers: [{name: a, image: cleanup:1}]}}}`, nil},
		{"kserve serving runtime", `
apiVersion: serving.kserve.io/v1alpha1
kind: ClusterServingRuntime
metadata: {name: kserve-sklearnserver}
spec: {containers: [{name: kserve-container, image: "kserve/sklearnserver:v0.20.0"}]}`, []string{"kserve/sklearnserver:v0.20.0"}},
		{"kserve storage container", `
apiVersion: serving.kserve.io/v1alpha1
kind: ClusterStorageContainer
metadata: {name: default}
spec: {container: {name: storage-initializer, image: "kserve/storage-initializer:v0.20.0"}}`, []string{"kserve/storage-initializer:v0.20.0"}},
		{"kserve inferenceservice-config", `
apiVersion: v1
kind: ConfigMap
metadata: {name: inferenceservice-config, namespace: kserve}
data:
  storageInitializer: '{"image": "kserve/storage-initializer:v0.20.0", "memoryRequest": "100Mi"}'
  agent: '{"image": "kserve/agent:v0.20.0"}'`, []string{"kserve/storage-initializer:v0.20.0"}},
		{"knative config-deployment", `
apiVersion: v1
kind: ConfigMap
metadata: {name: config-deployment, namespace: knative-serving}
data: {queue-sidecar-image: "gcr.io/knative-releases/knative.dev/serving/cmd/queue@sha256:a3"}`, []string{"gcr.io/knative-releases/knative.dev/serving/cmd/queue@sha256:a3"}},
		{"knative caching image", `
apiVersion: caching.internal.knative.dev/v1alpha1
kind: Image
metadata: {name: queue-proxy, namespace: knative-serving}
spec: {image: "gcr.io/queue@sha256:a3"}`, []string{"gcr.io/queue@sha256:a3"}},
		{"other configmap", `
apiVersion: v1
kind: ConfigMap
metadata: {name: config, namespace: n}
data: {image: "not:pulled"}`, nil},
		{"policy naming image patterns", `
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: disallow-latest-image-tag}
spec: {rules: [{validate: {pattern: {spec: {containers: [{image: "!*:latest"}]}}}}]}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := obj(t, tt.doc)
			p := &render.Platform{Components: []*render.Component{{Name: "c", Steps: []*render.Step{{Objects: []*unstructured.Unstructured{o, o.DeepCopy()}}}}}}
			got := Refs(Images(p))
			if !slices.Equal(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
				t.Errorf("Images = %q, want %q (each once)", got, tt.want)
			}
		})
	}
}

// TestImagesOfThePlatform lists the images of the real dev platform with
// the demo, rendered from the upstream fixtures: every component's
// workloads, and the images the demo's predictor pod is given at run time
// (model server, storage initializer, queue-proxy), each once, in install
// order, and none of the images only Helm tests or deletion use.
func TestImagesOfThePlatform(t *testing.T) {
	p := prepulltest.Platform(t)
	imgs := Images(p)
	byRef := map[string]Image{}
	for _, img := range imgs {
		if _, dup := byRef[img.Ref]; dup {
			t.Errorf("%s listed twice", img.Ref)
		}
		byRef[img.Ref] = img
	}
	for ref, comp := range map[string]string{
		"quay.io/jetstack/cert-manager-controller:v1.21.1":        "cert-manager",
		"quay.io/jetstack/cert-manager-startupapicheck:v1.21.1":   "cert-manager",
		"docker.io/envoyproxy/envoy:v1.37.5":                      "kourier",
		"kserve/kserve-controller:v0.20.0":                        "kserve",
		"kserve/sklearnserver:v0.20.0":                            "demo",
		"kserve/storage-initializer:v0.20.0":                      "kserve",
		"quay.io/argoproj/argocd:v3.4.4":                          "argocd",
		"reg.kyverno.io/kyverno/kyverno:v1.19.0":                  "kyverno",
		"ghcr.io/backstage/backstage:1.45.0":                      "backstage",
		"docker.io/bitnamilegacy/postgresql:15.4.0-debian-11-r10": "backstage",
		"gcr.io/knative-releases/knative.dev/serving/cmd/queue@sha256:a3cc71ce80dbc6df8781f15eac2cf3531a4c9815271799afd8776bef9e6aeaf2": "knative-serving",
	} {
		img, ok := byRef[ref]
		if !ok {
			t.Errorf("%s (%s) missing", ref, comp)
			continue
		}
		if img.Component != comp {
			t.Errorf("%s from %s (%s), want %s", ref, img.Component, img.Source, comp)
		}
	}
	for _, ref := range []string{"ghcr.io/kyverno/readiness-checker:latest", "ghcr.io/kyverno/readiness-checker:v1.19.0", "kserve/agent:v0.20.0"} {
		if _, ok := byRef[ref]; ok {
			t.Errorf("%s listed, but up never runs it", ref)
		}
	}
}

// TestPullOrderOfThePlatform checks the dev platform's images come in the
// order its stages need them: Backstage's first (it needs nothing and its
// probes say it is not Ready before 120 s), then those of the steps that
// start at once and head the longest chains (Knative, Kourier after it,
// cert-manager), KServe's, and the demo's model server last of all: it
// starts only when KServe and Kyverno's policies are in.
func TestPullOrderOfThePlatform(t *testing.T) {
	p := prepulltest.Platform(t)
	g := stepGraph(p)
	for step, needs := range map[string][]string{
		"kserve/kserve-crd": nil,
		"kyverno/kyverno":   nil,
		"kyverno/policies":  {"kyverno/kyverno", "kserve/kserve-crd"},
		"demo/demo":         {"kserve/kserve", "kyverno/policies"},
		"kyverno/quota":     {"kyverno/policies", "kserve/kserve-crd", "demo/demo"},
	} {
		if got := g[step].Needs; !slices.Equal(got, needs) {
			t.Errorf("step %s needs %q, want %q (as up schedules it)", step, got, needs)
		}
	}
	imgs := Images(p)
	var comps []string
	for _, img := range imgs {
		if len(comps) == 0 || comps[len(comps)-1] != img.Component {
			comps = append(comps, img.Component)
		}
	}
	want := []string{"backstage", "knative-serving", "kourier", "cert-manager", "kserve", "argocd", "kyverno", "demo"}
	if !slices.Equal(comps, want) {
		t.Errorf("images pulled by component in the order %q, want %q", comps, want)
	}
	if last := imgs[len(imgs)-1]; last.Ref != "kserve/sklearnserver:v0.20.0" {
		t.Errorf("last image %+v, want the demo's model server", last)
	}
}
