package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/kwok/kustomize/crd"
	nodefast "sigs.k8s.io/kwok/kustomize/stage/node/fast"
	nodelease "sigs.k8s.io/kwok/kustomize/stage/node/heartbeat-with-lease"
	podfast "sigs.k8s.io/kwok/kustomize/stage/pod/fast"
	"sigs.k8s.io/yaml"
)

// laptopStarted is sim's annotation for a pod whose images are pulled and
// whose start is over (sim's StartedAnnotation; separate binaries).
const laptopStarted = "testcluster.neuroscale.dev/started"

var (
	crdGVR   = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	stageGVR = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "stages"}
)

// podReadyDelay holds pods matched by Selector (equality labels only, as
// kwok's matchLabels) in Pending for Delay before they become Ready.
type podReadyDelay struct {
	Selector string        `json:"selector"`
	Delay    time.Duration `json:"-"`
	DelayStr string        `json:"delay"`
}

// delayFlags collects repeated --pod-ready-delay SELECTOR=DURATION flags.
type delayFlags []podReadyDelay

func (d *delayFlags) String() string { return fmt.Sprint(*d) }

// Set splits at the last '=': label selectors contain '=' but durations
// never do, so "app.kubernetes.io/name=backstage=20s" is unambiguous.
func (d *delayFlags) Set(v string) error {
	i := strings.LastIndexByte(v, '=')
	if i <= 0 {
		return fmt.Errorf("pod-ready-delay %q: want SELECTOR=DURATION", v)
	}
	pd, err := parseDelay(v[:i], v[i+1:])
	if err != nil {
		return err
	}
	*d = append(*d, pd)
	return nil
}

func parseDelay(selector, delay string) (podReadyDelay, error) {
	dur, err := time.ParseDuration(strings.TrimSpace(delay))
	if err != nil || dur < 0 {
		return podReadyDelay{}, fmt.Errorf("delay %q for %q: want a non-negative duration like 20s", delay, selector)
	}
	if _, err := labels.ConvertSelectorToLabelsMap(selector); err != nil || strings.TrimSpace(selector) == "" {
		return podReadyDelay{}, fmt.Errorf("selector %q: want key=value[,key=value]: %v", selector, err)
	}
	return podReadyDelay{Selector: selector, Delay: dur, DelayStr: delay}, nil
}

// readDelaysFile reads
//
//	podReadyDelays:
//	- selector: app.kubernetes.io/name=backstage
//	  delay: 20s
func readDelaysFile(path string) ([]podReadyDelay, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read delays file: %w", err)
	}
	var f struct {
		PodReadyDelays []podReadyDelay `json:"podReadyDelays"`
	}
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("parse delays file %s: %w", path, err)
	}
	out := make([]podReadyDelay, 0, len(f.PodReadyDelays))
	for _, d := range f.PodReadyDelays {
		pd, err := parseDelay(d.Selector, d.DelayStr)
		if err != nil {
			return nil, fmt.Errorf("delays file %s: %w", path, err)
		}
		out = append(out, pd)
	}
	return out, nil
}

// installKwokCRDs creates the Stage, ClusterPortForward, ClusterLogs, Exec
// and ClusterExec CRDs shipped in kwok's module and waits until they are
// Established. ClusterLogs lets a test serve a file as a pod's container log
// (kwok pods have none otherwise), so log-reading code is tested through
// the API; Exec and ClusterExec map `kubectl exec` into simulated pods to a
// local command, so in-container checks (secret lengths) are tested too.
// No exec rule is created by default: a test opts in.
func installKwokCRDs(ctx context.Context, dyn dynamic.Interface) error {
	for _, doc := range [][]byte{crd.Stage, crd.ClusterPortForward, crd.ClusterLogs, crd.Exec, crd.ClusterExec} {
		obj, err := decode(doc)
		if err != nil {
			return fmt.Errorf("decode kwok crd: %w", err)
		}
		if _, err := dyn.Resource(crdGVR).Create(ctx, obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create crd %s: %w", obj.GetName(), err)
		}
		if err := waitEstablished(ctx, dyn, obj.GetName()); err != nil {
			return err
		}
	}
	return nil
}

func waitEstablished(ctx context.Context, dyn dynamic.Interface, name string) error {
	for {
		obj, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
			for _, c := range conds {
				m, _ := c.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("crd %s not established: %w", name, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// createStages installs kwok's "fast" lifecycle: nodes Ready at once with
// a lease heartbeat, pods Ready at once, Job pods complete, deleted pods
// go away; and pods made not Ready by an outage Ready again (see
// podReadyAgain). Each delay adds a copy of pod-ready restricted to its labels,
// held back by the delay and given weight 1: kwok picks among matching
// stages by weight, so a pod matching a delayed stage (weight 1) never
// takes the default one (weight 0). With laptop set (sim's laptop model),
// pod-ready and its delayed copies also wait for sim's StartedAnnotation,
// which sim sets once the pod's images are pulled and its start is over.
func createStages(ctx context.Context, dyn dynamic.Interface, delays []podReadyDelay, laptop bool) error {
	docs := []string{
		nodefast.DefaultNodeInit,
		nodelease.DefaultNodeHeartbeatWithLease,
		podfast.DefaultPodReady,
		podfast.DefaultPodComplete,
		podfast.DefaultPodDelete,
	}
	var stages []*unstructured.Unstructured
	var podReady *unstructured.Unstructured
	for _, d := range docs {
		obj, err := decode([]byte(d))
		if err != nil {
			return fmt.Errorf("decode kwok stage: %w", err)
		}
		if obj.GetName() == "pod-ready" {
			podReady = obj
		}
		stages = append(stages, obj)
	}
	if podReady == nil {
		return fmt.Errorf("kwok's pod-ready stage not found")
	}
	again, err := podReadyAgain(podReady)
	if err != nil {
		return err
	}
	stages = append(stages, again)
	for i, d := range delays {
		set, err := labels.ConvertSelectorToLabelsMap(d.Selector)
		if err != nil {
			return fmt.Errorf("selector %q: %w", d.Selector, err)
		}
		s := podReady.DeepCopy()
		s.SetName(fmt.Sprintf("pod-ready-delay-%d", i))
		match := map[string]any{}
		for k, v := range set {
			match[k] = v
		}
		if err := unstructured.SetNestedMap(s.Object, match, "spec", "selector", "matchLabels"); err != nil {
			return fmt.Errorf("stage for %q: %w", d.Selector, err)
		}
		if err := unstructured.SetNestedField(s.Object, d.Delay.Milliseconds(), "spec", "delay", "durationMilliseconds"); err != nil {
			return fmt.Errorf("stage for %q: %w", d.Selector, err)
		}
		if err := unstructured.SetNestedField(s.Object, int64(1), "spec", "weight"); err != nil {
			return fmt.Errorf("stage for %q: %w", d.Selector, err)
		}
		stages = append(stages, s)
	}
	if laptop {
		for _, s := range stages {
			if s.GetName() != podReady.GetName() && !strings.HasPrefix(s.GetName(), "pod-ready-delay-") {
				continue
			}
			if err := unstructured.SetNestedStringMap(s.Object, map[string]string{laptopStarted: "true"}, "spec", "selector", "matchAnnotations"); err != nil {
				return fmt.Errorf("stage %s: %w", s.GetName(), err)
			}
		}
	}
	for _, s := range stages {
		if _, err := dyn.Resource(stageGVR).Create(ctx, s, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create stage %s: %w", s.GetName(), err)
		}
	}
	return nil
}

func decode(doc []byte) (*unstructured.Unstructured, error) {
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(doc, &obj.Object); err != nil {
		return nil, fmt.Errorf("unmarshal yaml: %w", err)
	}
	return obj, nil
}

func insecureTLS() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true} //nolint:gosec // readiness probe of our own process only
}

// podReadyAgain is pod-ready for Running pods that lost their Ready
// condition. When kwok is down longer than the node's lease, the node
// lifecycle controller marks the node NotReady and every pod on it not
// Ready; kwok's node-initialize stage makes the node Ready again once kwok
// is back, but pod-ready only matches Pending pods, so without this stage
// the pods would stay not Ready for good, as no real kubelet allows.
func podReadyAgain(podReady *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	s := podReady.DeepCopy()
	s.SetName("pod-ready-again")
	exprs, _, err := unstructured.NestedSlice(s.Object, "spec", "selector", "matchExpressions")
	if err != nil {
		return nil, fmt.Errorf("pod-ready-again: %w", err)
	}
	found := false
	for _, e := range exprs {
		m, ok := e.(map[string]any)
		if ok && m["key"] == ".status.phase" {
			m["values"] = []any{"Running"}
			found = true
		}
	}
	if !found {
		return nil, fmt.Errorf("kwok's pod-ready stage has no .status.phase selector to adapt")
	}
	if err := unstructured.SetNestedSlice(s.Object, exprs, "spec", "selector", "matchExpressions"); err != nil {
		return nil, fmt.Errorf("pod-ready-again: %w", err)
	}
	return s, nil
}
