package main

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

const (
	storageClassName = "standard"
	provisionerName  = "neuroscale.dev/testcluster-hostpath"
	provisionedLabel = "testcluster.neuroscale.dev/provisioned"
)

// ensureStorageClass creates the default class. It retries because sim
// may come up a moment before the API server accepts writes from it.
func (s *sim) ensureStorageClass(ctx context.Context) error {
	bind := storagev1.VolumeBindingImmediate
	reclaim := corev1.PersistentVolumeReclaimRetain
	sc := &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        storageClassName,
			Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"},
		},
		Provisioner:       provisionerName,
		ReclaimPolicy:     &reclaim,
		VolumeBindingMode: &bind,
	}
	for {
		_, err := s.cs.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{})
		if err == nil || apierrors.IsAlreadyExists(err) {
			return nil
		}
		s.log.Warn("create storage class", "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("create storage class: %w", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// runCore watches Services, claims and volumes.
func (s *sim) runCore(ctx context.Context) {
	f := informers.NewSharedInformerFactory(s.cs, s.resync)
	handler := func(fn func(context.Context, any)) cache.ResourceEventHandler {
		return cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { fn(ctx, obj) },
			UpdateFunc: func(_, obj any) { fn(ctx, obj) },
		}
	}
	_, _ = f.Core().V1().Services().Informer().AddEventHandler(handler(s.syncService))
	_, _ = f.Core().V1().PersistentVolumeClaims().Informer().AddEventHandler(handler(s.syncClaim))
	_, _ = f.Core().V1().PersistentVolumes().Informer().AddEventHandler(handler(s.syncVolume))
	f.Start(ctx.Done())
}

func (s *sim) syncService(ctx context.Context, obj any) {
	svc, ok := obj.(*corev1.Service)
	if !ok || svc.Spec.Type != corev1.ServiceTypeLoadBalancer || len(svc.Status.LoadBalancer.Ingress) > 0 {
		return
	}
	svc = svc.DeepCopy()
	vip := corev1.LoadBalancerIPModeVIP
	ing := corev1.LoadBalancerIngress{IP: "127.0.0.1", IPMode: &vip}
	for _, p := range svc.Spec.Ports {
		ing.Ports = append(ing.Ports, corev1.PortStatus{Port: p.Port, Protocol: p.Protocol})
	}
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{ing}
	if _, err := s.cs.CoreV1().Services(svc.Namespace).UpdateStatus(ctx, svc, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		s.log.Warn("set load balancer ingress", "service", svc.Namespace+"/"+svc.Name, "err", err)
		return
	}
	s.log.Info("load balancer ingress set", "service", svc.Namespace+"/"+svc.Name)
}

// syncClaim provisions a volume for a Pending claim of our class. The
// volume is created already bound (claimRef with the claim's UID), and the
// PV controller in kube-controller-manager completes the binding.
func (s *sim) syncClaim(ctx context.Context, obj any) {
	pvc, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok || pvc.Status.Phase != corev1.ClaimPending || pvc.Spec.VolumeName != "" || pvc.DeletionTimestamp != nil {
		return
	}
	if pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName != storageClassName {
		return // a claim without class gets the default class set by kcm first
	}
	size := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	if size.IsZero() {
		size = resource.MustParse("1Gi")
	}
	modes := pvc.Spec.AccessModes
	if len(modes) == 0 {
		modes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	}
	hostPathType := corev1.HostPathDirectoryOrCreate
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        "pvc-" + string(pvc.UID),
			Labels:      map[string]string{provisionedLabel: "true"},
			Annotations: map[string]string{"pv.kubernetes.io/provisioned-by": provisionerName},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:    corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes: modes,
			// Retain, so kcm does not look for a deleter plugin; sim deletes
			// the volume itself once it is released.
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              storageClassName,
			VolumeMode:                    pvc.Spec.VolumeMode,
			ClaimRef: &corev1.ObjectReference{
				APIVersion: "v1", Kind: "PersistentVolumeClaim",
				Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID,
			},
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				// Never mounted: kwok runs no containers.
				HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/neuroscale-testcluster/" + string(pvc.UID), Type: &hostPathType},
			},
		},
	}
	if _, err := s.cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
		if !apierrors.IsAlreadyExists(err) {
			s.log.Warn("provision volume", "claim", pvc.Namespace+"/"+pvc.Name, "err", err)
		}
		return
	}
	s.log.Info("volume provisioned", "claim", pvc.Namespace+"/"+pvc.Name, "volume", pv.Name)
}

// syncVolume deletes our volumes once their claim is gone, as a dynamic
// provisioner with reclaim policy Delete would.
func (s *sim) syncVolume(ctx context.Context, obj any) {
	pv, ok := obj.(*corev1.PersistentVolume)
	if !ok || pv.Labels[provisionedLabel] != "true" || pv.DeletionTimestamp != nil {
		return
	}
	if pv.Status.Phase != corev1.VolumeReleased && pv.Status.Phase != corev1.VolumeFailed {
		return
	}
	if err := s.cs.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		s.log.Warn("delete released volume", "volume", pv.Name, "err", err)
	}
}
