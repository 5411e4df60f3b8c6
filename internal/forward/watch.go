package forward

import (
	"context"
	"sync"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// serviceWatch keeps one forward's Target current from watches on its
// Service and that Service's EndpointSlices. Watching (instead of polling)
// is what lets a forward follow a replaced pod within a fraction of a
// second: the endpointslice controller marks the old endpoint not ready and
// adds the new one as soon as the pods change.
type serviceWatch struct {
	ns, name   string
	remotePort int
	svcs       cache.SharedIndexInformer
	slices     cache.SharedIndexInformer
	// knative holds the slices of a Knative Service's private revision
	// Services, used when the Service is a Knative route (see pickTarget).
	knative cache.SharedIndexInformer

	mu      sync.Mutex
	target  Target
	reason  string
	synced  bool
	changed chan struct{}
}

func newServiceWatch(cs kubernetes.Interface, ns, name string, remotePort int) *serviceWatch {
	byName := "metadata.name=" + name
	svcLW := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = byName
			return cs.CoreV1().Services(ns).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = byName
			return cs.CoreV1().Services(ns).Watch(ctx, o)
		},
	}
	sliceLW := slicesBy(cs, ns, discoveryv1.LabelServiceName+"="+name)
	w := &serviceWatch{
		ns: ns, name: name, remotePort: remotePort,
		svcs:    cache.NewSharedIndexInformer(svcLW, &corev1.Service{}, 0, cache.Indexers{}),
		slices:  cache.NewSharedIndexInformer(sliceLW, &discoveryv1.EndpointSlice{}, 0, cache.Indexers{}),
		knative: cache.NewSharedIndexInformer(slicesBy(cs, ns, knativeServiceLabel+"="+name+","+knativeServiceTypeLabel+"="+knativePrivate), &discoveryv1.EndpointSlice{}, 0, cache.Indexers{}),
		changed: make(chan struct{}),
	}
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { w.recompute() },
		UpdateFunc: func(any, any) { w.recompute() },
		DeleteFunc: func(any) { w.recompute() },
	}
	_, _ = w.svcs.AddEventHandler(h)
	_, _ = w.slices.AddEventHandler(h)
	_, _ = w.knative.AddEventHandler(h)
	return w
}

// slicesBy lists and watches the EndpointSlices in ns that match selector.
func slicesBy(cs kubernetes.Interface, ns, selector string) *cache.ListWatch {
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = selector
			return cs.DiscoveryV1().EndpointSlices(ns).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = selector
			return cs.DiscoveryV1().EndpointSlices(ns).Watch(ctx, o)
		},
	}
}

// run runs both informers until ctx is done. After both have listed once,
// a missing Service counts as missing rather than not yet seen.
func (w *serviceWatch) run(ctx context.Context) {
	go w.svcs.RunWithContext(ctx)
	go w.slices.RunWithContext(ctx)
	go w.knative.RunWithContext(ctx)
	if cache.WaitForCacheSync(ctx.Done(), w.svcs.HasSynced, w.slices.HasSynced, w.knative.HasSynced) {
		w.mu.Lock()
		w.synced = true
		w.mu.Unlock()
		w.recompute()
	}
	<-ctx.Done()
}

// current returns the chosen target (Pod empty when there is none, with
// the reason; both empty until the first list) and a channel closed at the
// next change of either.
func (w *serviceWatch) current() (Target, string, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.target, w.reason, w.changed
}

func (w *serviceWatch) recompute() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.synced {
		return
	}
	var svc *corev1.Service
	for _, o := range w.svcs.GetStore().List() {
		if s, ok := o.(*corev1.Service); ok && s.Name == w.name {
			svc = s
		}
	}
	t, reason := pickTarget(svc, storedSlices(w.slices), storedSlices(w.knative), w.remotePort, w.target.Pod)
	if reason != "" {
		reason = "Service " + w.ns + "/" + w.name + ": " + reason
	}
	if t == w.target && reason == w.reason {
		return
	}
	w.target, w.reason = t, reason
	close(w.changed)
	w.changed = make(chan struct{})
}

func storedSlices(inf cache.SharedIndexInformer) []*discoveryv1.EndpointSlice {
	var out []*discoveryv1.EndpointSlice
	for _, o := range inf.GetStore().List() {
		if s, ok := o.(*discoveryv1.EndpointSlice); ok {
			out = append(out, s)
		}
	}
	return out
}
