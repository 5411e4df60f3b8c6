package main

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// With the laptop model an InferenceService is Ready only once its
// predictor could run: KServe would create a Knative Service whose pod
// pulls the model server, the storage initializer and the queue-proxy
// sidecar. Sim creates a stand-in pod with those images, resolved from the
// cluster as KServe and Knative resolve them, and sets the Ready status
// when kwok has made the pod Ready (after the laptop model let it start).

// predictorLabel names the InferenceService a stand-in pod serves, as
// KServe labels its predictor pods.
const predictorLabel = "serving.kserve.io/inferenceservice"

var (
	clusterRuntimeGVR   = schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1alpha1", Resource: "clusterservingruntimes"}
	runtimeGVR          = schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1alpha1", Resource: "servingruntimes"}
	storageContainerGVR = schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1alpha1", Resource: "clusterstoragecontainers"}
)

// predictorReady makes sure isvc's stand-in pod exists and reports whether
// it is Ready.
func (s *sim) predictorReady(ctx context.Context, isvc *unstructured.Unstructured) (bool, error) {
	name := isvc.GetName() + "-predictor-sim"
	pod, err := s.cs.CoreV1().Pods(isvc.GetNamespace()).Get(ctx, name, metav1.GetOptions{})
	if err == nil {
		return podReady(pod), nil
	}
	if !apierrors.IsNotFound(err) {
		return false, err
	}
	images, err := s.predictorImages(ctx, isvc)
	if err != nil {
		return false, err
	}
	pod = &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: isvc.GetNamespace(),
			Labels: map[string]string{predictorLabel: isvc.GetName(), "component": "predictor"},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: isvc.GetAPIVersion(), Kind: isvc.GetKind(), Name: isvc.GetName(), UID: isvc.GetUID(),
			}},
		},
	}
	if images.storage != "" {
		pod.Spec.InitContainers = []corev1.Container{{Name: "storage-initializer", Image: images.storage}}
	}
	for i, img := range images.server {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: fmt.Sprintf("kserve-container-%d", i), Image: img})
	}
	if images.queue != "" {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "queue-proxy", Image: images.queue})
	}
	if len(pod.Spec.Containers) == 0 {
		return false, fmt.Errorf("no serving runtime for InferenceService %s/%s", isvc.GetNamespace(), isvc.GetName())
	}
	if _, err := s.cs.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return false, err
	}
	s.log.Info("laptop: predictor pod created", "inferenceservice", isvc.GetNamespace()+"/"+isvc.GetName(), "initContainers", len(pod.Spec.InitContainers), "containers", len(pod.Spec.Containers))
	return false, nil
}

type predictorImages struct {
	server         []string
	storage, queue string
}

// predictorImages resolves what KServe and Knative would run: the
// serving runtime named by the model (or the auto-selected one for its
// format), the storage initializer when the model has a storageUri, and
// Knative's queue-proxy sidecar.
func (s *sim) predictorImages(ctx context.Context, isvc *unstructured.Unstructured) (predictorImages, error) {
	var out predictorImages
	model, _, _ := unstructured.NestedMap(isvc.Object, "spec", "predictor", "model")
	format, _, _ := unstructured.NestedString(model, "modelFormat", "name")
	runtime, _, _ := unstructured.NestedString(model, "runtime")
	var candidates []unstructured.Unstructured
	if l, err := s.dyn.Resource(runtimeGVR).Namespace(isvc.GetNamespace()).List(ctx, metav1.ListOptions{}); err == nil {
		candidates = append(candidates, l.Items...)
	}
	l, err := s.dyn.Resource(clusterRuntimeGVR).List(ctx, metav1.ListOptions{})
	if err != nil {
		return out, fmt.Errorf("list cluster serving runtimes: %w", err)
	}
	candidates = append(candidates, l.Items...)
	for _, rt := range candidates {
		if runtime != "" && rt.GetName() != runtime {
			continue
		}
		if runtime == "" && !supports(&rt, format) {
			continue
		}
		cs, _, _ := unstructured.NestedSlice(rt.Object, "spec", "containers")
		for _, c := range cs {
			if m, ok := c.(map[string]any); ok {
				if img, ok := m["image"].(string); ok {
					out.server = append(out.server, img)
				}
			}
		}
		break
	}
	if uri, _, _ := unstructured.NestedString(model, "storageUri"); uri != "" {
		if sc, err := s.dyn.Resource(storageContainerGVR).Get(ctx, "default", metav1.GetOptions{}); err == nil {
			out.storage, _, _ = unstructured.NestedString(sc.Object, "spec", "container", "image")
		}
		if out.storage == "" {
			if cm, err := s.cs.CoreV1().ConfigMaps("kserve").Get(ctx, "inferenceservice-config", metav1.GetOptions{}); err == nil {
				var si struct {
					Image string `json:"image"`
				}
				if json.Unmarshal([]byte(cm.Data["storageInitializer"]), &si) == nil {
					out.storage = si.Image
				}
			}
		}
	}
	if cm, err := s.cs.CoreV1().ConfigMaps("knative-serving").Get(ctx, "config-deployment", metav1.GetOptions{}); err == nil {
		out.queue = cm.Data["queue-sidecar-image"]
	}
	return out, nil
}

// supports reports whether the runtime auto-selects models of format.
func supports(rt *unstructured.Unstructured, format string) bool {
	fs, _, _ := unstructured.NestedSlice(rt.Object, "spec", "supportedModelFormats")
	for _, f := range fs {
		m, _ := f.(map[string]any)
		if m["name"] == format && m["autoSelect"] == true {
			return true
		}
	}
	return false
}
