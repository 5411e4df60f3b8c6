package main

import (
	"context"
	"encoding/json"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// Knative resolves the tag of each revision's images to a digest by asking
// their registry; no registry answers on the bench, so a revision would
// fail with ContainerMissing. The bench (not the product) adds the
// registries of the platform's images to config-deployment's
// registries-skipping-tag-resolving, as soon as the ConfigMap exists and
// whenever an apply resets it, under a field manager of its own. Listed in
// testcluster.Simulated.
const (
	knativeNamespace     = "knative-serving"
	knativeDeploymentCM  = "config-deployment"
	skipTagResolutionKey = "registries-skipping-tag-resolving"
	// Knative's own default (kind.local,ko.local,dev.local) and the
	// registries of the platform's images (Docker Hub is index.docker.io
	// to Knative's resolver).
	benchSkippedRegistries = "kind.local,ko.local,dev.local,index.docker.io,docker.io,gcr.io,ghcr.io,quay.io,registry.k8s.io"
)

// skipKnativeTagResolution keeps config-deployment's key set until ctx
// ends.
func (h *harness) skipKnativeTagResolution(ctx context.Context) {
	f := informers.NewSharedInformerFactoryWithOptions(h.cs, 30*time.Second,
		informers.WithNamespace(knativeNamespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = "metadata.name=" + knativeDeploymentCM }))
	ensure := func(obj any) {
		cm, ok := obj.(*corev1.ConfigMap)
		if !ok || cm.Data[skipTagResolutionKey] == benchSkippedRegistries {
			return
		}
		patch, _ := json.Marshal(map[string]any{"data": map[string]string{skipTagResolutionKey: benchSkippedRegistries}})
		_, err := h.cs.CoreV1().ConfigMaps(knativeNamespace).Patch(ctx, knativeDeploymentCM, types.StrategicMergePatchType, patch,
			metav1.PatchOptions{FieldManager: "neuroscale-testcluster"})
		if err != nil {
			h.log.Warn("skip Knative tag resolution", "err", err)
			return
		}
		h.log.Info("Knative skips tag resolution on the bench", "configmap", knativeNamespace+"/"+knativeDeploymentCM, skipTagResolutionKey, benchSkippedRegistries)
	}
	_, _ = f.Core().V1().ConfigMaps().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    ensure,
		UpdateFunc: func(_, obj any) { ensure(obj) },
	})
	f.Start(ctx.Done())
	<-ctx.Done()
}
