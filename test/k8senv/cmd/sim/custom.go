package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
)

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// simKind is one custom resource whose controller sim plays: done tells
// whether the object already shows the simulated state, status builds it.
type simKind struct {
	gvr    schema.GroupVersionResource
	done   func(obj *unstructured.Unstructured) bool
	status func(obj *unstructured.Unstructured, now string) map[string]any
}

func simKinds() []simKind {
	return []simKind{
		{
			gvr:    schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1beta1", Resource: "inferenceservices"},
			done:   inferenceServiceReady,
			status: inferenceServiceStatus,
		},
		{
			gvr:    schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"},
			done:   applicationSynced,
			status: applicationStatus,
		},
	}
}

// runCustomResources watches CRDs and runs an informer for each simulated
// kind while its CRD is Established and serves the expected version; the
// informer stops when the CRD goes away, so a test that deletes the CRD
// does not leave a failing list loop behind.
func (s *sim) runCustomResources(ctx context.Context) {
	kinds := map[string]simKind{}
	for _, k := range simKinds() {
		if s.leave[k.gvr.GroupResource().String()] {
			s.log.Info("a real controller writes this status: not simulated", "resource", k.gvr.GroupResource().String())
			continue
		}
		kinds[k.gvr.GroupResource().String()] = k
	}
	var mu sync.Mutex
	running := map[string]context.CancelFunc{}

	reconcile := func(obj any, deleted bool) {
		crd, ok := obj.(*unstructured.Unstructured)
		if !ok {
			if tomb, isTomb := obj.(cache.DeletedFinalStateUnknown); isTomb {
				crd, ok = tomb.Obj.(*unstructured.Unstructured)
				deleted = true
			}
			if !ok {
				return
			}
		}
		group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
		plural, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "plural")
		key := schema.GroupResource{Group: group, Resource: plural}.String()
		kind, ok := kinds[key]
		if !ok {
			return
		}
		serves, statusSub := servesVersion(crd, kind.gvr.Version)
		want := !deleted && crd.GetDeletionTimestamp() == nil && established(crd) && serves
		mu.Lock()
		defer mu.Unlock()
		stop, has := running[key]
		switch {
		case want && !has:
			kctx, cancel := context.WithCancel(ctx)
			running[key] = cancel
			s.log.Info("watching custom resources", "resource", key, "statusSubresource", statusSub)
			s.runKind(kctx, kind, statusSub)
		case !want && has:
			stop()
			delete(running, key)
			s.log.Info("stopped watching custom resources", "resource", key)
		}
	}
	inf := dynamicinformer.NewFilteredDynamicInformer(s.dyn, crdGVR, "", s.resync, cache.Indexers{}, nil)
	_, _ = inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { reconcile(obj, false) },
		UpdateFunc: func(_, obj any) { reconcile(obj, false) },
		DeleteFunc: func(obj any) { reconcile(obj, true) },
	})
	go inf.Informer().Run(ctx.Done())
}

func (s *sim) runKind(ctx context.Context, k simKind, statusSub bool) {
	inf := dynamicinformer.NewFilteredDynamicInformer(s.dyn, k.gvr, "", s.resync, cache.Indexers{}, nil)
	handle := func(obj any) {
		u, ok := obj.(*unstructured.Unstructured)
		if !ok || u.GetDeletionTimestamp() != nil || k.done(u) {
			return
		}
		if s.laptop && k.gvr.Resource == "inferenceservices" {
			ready, err := s.predictorReady(ctx, u)
			if err != nil {
				s.log.Warn("laptop: predictor pod", "object", u.GetNamespace()+"/"+u.GetName(), "err", err)
			}
			if !ready {
				return
			}
		}
		status := k.status(u, time.Now().UTC().Format(time.RFC3339))
		patch, err := json.Marshal(map[string]any{"status": status})
		if err != nil {
			s.log.Error("marshal status", "err", err)
			return
		}
		var sub []string
		if statusSub {
			sub = []string{"status"}
		}
		_, err = s.dyn.Resource(k.gvr).Namespace(u.GetNamespace()).Patch(ctx, u.GetName(), types.MergePatchType, patch, metav1.PatchOptions{}, sub...)
		if err != nil && !apierrors.IsNotFound(err) {
			s.log.Warn("set status", "resource", k.gvr.Resource, "object", u.GetNamespace()+"/"+u.GetName(), "err", err)
			return
		}
		s.log.Info("status set", "resource", k.gvr.Resource, "object", u.GetNamespace()+"/"+u.GetName())
	}
	_, _ = inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    handle,
		UpdateFunc: func(_, obj any) { handle(obj) },
	})
	if k.gvr.Resource == "inferenceservices" {
		s.mu.Lock()
		s.kickISVC = func(namespace, name string) {
			if u, err := s.dyn.Resource(k.gvr).Namespace(namespace).Get(ctx, name, metav1.GetOptions{}); err == nil {
				handle(u)
			}
		}
		s.mu.Unlock()
	}
	go inf.Informer().Run(ctx.Done())
}

func established(crd *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}

// servesVersion reports whether the CRD serves version and whether that
// version has a status subresource (then status must be written there).
func servesVersion(crd *unstructured.Unstructured, version string) (serves, statusSub bool) {
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	for _, v := range versions {
		m, _ := v.(map[string]any)
		if m["name"] != version || m["served"] != true {
			continue
		}
		_, statusSub, _ = unstructured.NestedFieldNoCopy(m, "subresources", "status")
		return true, statusSub
	}
	return false, false
}

func condition(obj *unstructured.Unstructured, typ string) (status string, found bool) {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == typ {
			s, _ := m["status"].(string)
			return s, true
		}
	}
	return "", false
}

func inferenceServiceReady(obj *unstructured.Unstructured) bool {
	ready, _ := condition(obj, "Ready")
	gen, _, _ := unstructured.NestedInt64(obj.Object, "status", "observedGeneration")
	return ready == "True" && gen == obj.GetGeneration()
}

// inferenceServiceStatus is what KServe's controller reports for a ready
// serverless predictor, with the URL its default domain template
// ({{.Name}}-{{.Namespace}}.{{.IngressDomain}}) gives on 127.0.0.1.sslip.io.
func inferenceServiceStatus(obj *unstructured.Unstructured, now string) map[string]any {
	name, ns := obj.GetName(), obj.GetNamespace()
	url := fmt.Sprintf("http://%s-%s.127.0.0.1.sslip.io", name, ns)
	internal := fmt.Sprintf("http://%s-predictor.%s.svc.cluster.local", name, ns)
	revision := name + "-predictor-00001"
	cond := func(t string) map[string]any {
		return map[string]any{"type": t, "status": "True", "lastTransitionTime": now}
	}
	return map[string]any{
		"observedGeneration": obj.GetGeneration(),
		"url":                url,
		"address":            map[string]any{"url": internal},
		"conditions": []any{
			cond("IngressReady"), cond("LatestDeploymentReady"), cond("PredictorConfigurationReady"),
			cond("PredictorReady"), cond("PredictorRouteReady"), cond("Ready"),
		},
		"components": map[string]any{"predictor": map[string]any{
			"url":                   fmt.Sprintf("http://%s-predictor-%s.127.0.0.1.sslip.io", name, ns),
			"address":               map[string]any{"url": internal},
			"latestCreatedRevision": revision,
			"latestReadyRevision":   revision,
			"traffic":               []any{map[string]any{"latestRevision": true, "percent": int64(100), "revisionName": revision}},
		}},
		"modelStatus": map[string]any{
			"states":           map[string]any{"activeModelState": "Loaded", "targetModelState": "Loaded"},
			"transitionStatus": "UpToDate",
		},
	}
}

func applicationSynced(obj *unstructured.Unstructured) bool {
	sync, _, _ := unstructured.NestedString(obj.Object, "status", "sync", "status")
	health, _, _ := unstructured.NestedString(obj.Object, "status", "health", "status")
	return sync == "Synced" && health == "Healthy"
}

// applicationStatus is the status ArgoCD's application controller writes
// after a successful sync of a healthy app.
func applicationStatus(obj *unstructured.Unstructured, now string) map[string]any {
	revision, _, _ := unstructured.NestedString(obj.Object, "spec", "source", "targetRevision")
	if revision == "" {
		revision = "HEAD"
	}
	return map[string]any{
		"sync":                map[string]any{"status": "Synced", "revision": revision},
		"health":              map[string]any{"status": "Healthy", "lastTransitionTime": now},
		"reconciledAt":        now,
		"sourceType":          "Directory",
		"controllerNamespace": obj.GetNamespace(),
	}
}
