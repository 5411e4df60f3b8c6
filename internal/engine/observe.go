package engine

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"golang.org/x/sync/errgroup"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"

	"github.com/neuroscale-dev/neuroscale/internal/state"
)

// Object statuses, kstatus's plus NotFound. Only Current counts as Ready.
const (
	statusCurrent     = string(status.CurrentStatus)
	statusInProgress  = string(status.InProgressStatus)
	statusFailed      = string(status.FailedStatus)
	statusTerminating = string(status.TerminatingStatus)
	statusNotFound    = string(status.NotFoundStatus)
)

// observation is what one look at one object found.
type observation struct {
	Ref     state.ObjectRef
	Status  string
	Message string
	// Final is set for failures that waiting cannot fix (a Job that
	// failed, CRD names that conflict).
	Final bool
	// Obj is the object as read, when it was read in full.
	Obj *unstructured.Unstructured
}

// existsOnly reports kinds whose readiness is their existence (kstatus
// calls them always ready). They are read as metadata only: a Backstage or
// Kyverno ConfigMap can be large, its metadata is not.
func existsOnly(gk schema.GroupKind) bool {
	switch gk.Group {
	case "":
		switch gk.Kind {
		case "ConfigMap", "Secret", "ServiceAccount", "LimitRange":
			return true
		}
	case "rbac.authorization.k8s.io":
		return true
	case "admissionregistration.k8s.io":
		return true
	case "networking.k8s.io":
		return gk.Kind == "NetworkPolicy" || gk.Kind == "IngressClass"
	case "policy":
		return gk.Kind == "PodDisruptionBudget"
	case "scheduling.k8s.io", "storage.k8s.io", "coordination.k8s.io":
		return true
	case "batch":
		return gk.Kind == "CronJob"
	}
	return false
}

// isCRD reports whether gk is CustomResourceDefinition.
func isCRD(gk schema.GroupKind) bool {
	return gk.Group == "apiextensions.k8s.io" && gk.Kind == "CustomResourceDefinition"
}

// listThreshold is the group size from which one LIST beats GETs.
const listThreshold = 4

// observe reads every ref once and computes its status. Refs of one kind
// in one namespace are read with one LIST when there are several, so that
// checking a converged platform costs tens of requests, not hundreds.
func (e *Engine) observe(ctx context.Context, refs []state.ObjectRef) (map[state.ObjectRef]observation, error) {
	type groupKey struct {
		gvk schema.GroupVersionKind
		ns  string
	}
	groups := map[groupKey][]state.ObjectRef{}
	var keys []groupKey
	for _, r := range refs {
		k := groupKey{r.GVK(), r.Namespace}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], r)
	}
	var mu sync.Mutex
	served := &servedCache{groups: map[string]*servedGroup{}}
	out := make(map[state.ObjectRef]observation, len(refs))
	put := func(o observation) {
		mu.Lock()
		out[o.Ref] = o
		mu.Unlock()
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, k := range keys {
		members := groups[k]
		// CRDs are read one by one: listing them all means tens of
		// megabytes (KServe's and Kyverno's are 300–650 KB each), most of
		// them not ours.
		if len(members) >= listThreshold && !isCRD(k.gvk.GroupKind()) {
			g.Go(func() error { return e.observeList(gctx, k.gvk, k.ns, members, put) })
			continue
		}
		for _, r := range members {
			g.Go(func() error {
				o, err := e.observeOne(gctx, r, served)
				if err != nil {
					return err
				}
				put(o)
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for ref, o := range out {
		if o.Status == statusCurrent && ref.Kind == "ResourceQuota" && ref.GVK().Group == "" {
			out[ref] = e.judgeQuota(ctx, o, served)
		}
	}
	return out, nil
}

// scoped returns ns for namespaced resources and "" for cluster-scoped
// ones, whatever a ref says: a request for a cluster-scoped kind inside a
// namespace is answered with "could not find the requested resource".
func scoped(m *meta.RESTMapping, ns string) string {
	if m.Scope.Name() != meta.RESTScopeNameNamespace {
		return ""
	}
	return ns
}

// mapping resolves a kind to its resource. A kind the cluster does not
// serve (its CRD is gone) is reported by ok=false, not as an error.
func (e *Engine) mapping(gvk schema.GroupVersionKind) (*meta.RESTMapping, bool, error) {
	m, err := e.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		if meta.IsNoMatchError(err) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("map %s: %w", gvk, err)
	}
	return m, true, nil
}

func (e *Engine) observeOne(ctx context.Context, r state.ObjectRef, served *servedCache) (observation, error) {
	gk := r.GVK().GroupKind()
	if isCRD(gk) {
		// Read as metadata first, and take the resource's presence in
		// discovery for Established (the API server lists a CRD's
		// resource only once it is): a platform's CRDs are tens of
		// megabytes, read on every check and every poll otherwise. Only
		// a CRD not served yet is read in full, for its conditions.
		pm, err := e.meta.Resource(crdResource).Get(ctx, r.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return notFound(r), nil
		}
		if err != nil {
			return observation{}, fmt.Errorf("read %s: %w", r, err)
		}
		if pm.DeletionTimestamp != nil {
			return metaObservation(r, &pm.ObjectMeta), nil
		}
		if ok, err := served.has(ctx, e.kube.Discovery(), r.Name); err != nil {
			e.log.Debug("discovery of a CRD's resource failed; reading it in full", "crd", r.Name, "err", err)
		} else if ok {
			return observation{Ref: r, Status: statusCurrent, Message: "established"}, nil
		}
		crd, err := e.apiext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, r.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return notFound(r), nil
		}
		if err != nil {
			return observation{}, fmt.Errorf("read %s: %w", r, err)
		}
		return crdObservation(r, crd), nil
	}
	m, ok, err := e.mapping(r.GVK())
	if err != nil {
		return observation{}, err
	}
	if !ok {
		return notFoundKind(r), nil
	}
	if existsOnly(gk) {
		pm, err := e.meta.Resource(m.Resource).Namespace(scoped(m, r.Namespace)).Get(ctx, r.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return notFound(r), nil
		}
		if err != nil {
			return observation{}, fmt.Errorf("read %s: %w", r, err)
		}
		return metaObservation(r, &pm.ObjectMeta), nil
	}
	u, err := e.dyn.Resource(m.Resource).Namespace(scoped(m, r.Namespace)).Get(ctx, r.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return notFound(r), nil
	}
	if err != nil {
		return observation{}, fmt.Errorf("read %s: %w", r, err)
	}
	return computeObservation(r, u), nil
}

func (e *Engine) observeList(ctx context.Context, gvk schema.GroupVersionKind, ns string, refs []state.ObjectRef, put func(observation)) error {
	gk := gvk.GroupKind()
	m, ok, err := e.mapping(gvk)
	if err != nil {
		return err
	}
	if !ok {
		for _, r := range refs {
			put(notFoundKind(r))
		}
		return nil
	}
	if existsOnly(gk) {
		list, err := e.meta.Resource(m.Resource).Namespace(scoped(m, ns)).List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("list %s in %q: %w", m.Resource.Resource, ns, err)
		}
		by := map[string]*metav1.ObjectMeta{}
		for i := range list.Items {
			by[list.Items[i].Name] = &list.Items[i].ObjectMeta
		}
		for _, r := range refs {
			if om, ok := by[r.Name]; ok {
				put(metaObservation(r, om))
			} else {
				put(notFound(r))
			}
		}
		return nil
	}
	list, err := e.dyn.Resource(m.Resource).Namespace(scoped(m, ns)).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list %s in %q: %w", m.Resource.Resource, ns, err)
	}
	by := map[string]*unstructured.Unstructured{}
	for i := range list.Items {
		by[list.Items[i].GetName()] = &list.Items[i]
	}
	for _, r := range refs {
		if u, ok := by[r.Name]; ok {
			put(computeObservation(r, u))
		} else {
			put(notFound(r))
		}
	}
	return nil
}

// crdResource is the resource of CustomResourceDefinitions.
var crdResource = apiextv1.SchemeGroupVersion.WithResource("customresourcedefinitions")

// servedCache is what one observe learnt from discovery: per API group,
// the resources (plural names) any of its versions serves.
type servedCache struct {
	mu     sync.Mutex
	groups map[string]*servedGroup
}

type servedGroup struct {
	once      sync.Once
	resources map[string]bool
	err       error
}

// has reports whether the resource of the CRD named name (plural.group,
// as the API server requires CRDs to be named) is served.
func (c *servedCache) has(ctx context.Context, d discovery.DiscoveryInterface, name string) (bool, error) {
	plural, group, ok := strings.Cut(name, ".")
	if !ok {
		return false, fmt.Errorf("CRD name %q is not plural.group", name)
	}
	c.mu.Lock()
	g := c.groups[group]
	if g == nil {
		g = &servedGroup{}
		c.groups[group] = g
	}
	c.mu.Unlock()
	g.once.Do(func() { g.resources, g.err = servedResources(ctx, d, group) })
	return g.resources[plural], g.err
}

// servedResources asks discovery what the group serves: its versions,
// then each version's resources. A group not served at all is empty.
func servedResources(ctx context.Context, d discovery.DiscoveryInterface, group string) (map[string]bool, error) {
	var ag metav1.APIGroup
	err := d.RESTClient().Get().AbsPath("/apis", group).Do(ctx).Into(&ag)
	if apierrors.IsNotFound(err) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, v := range ag.Versions {
		list, err := d.ServerResourcesForGroupVersion(v.GroupVersion)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, res := range list.APIResources {
			if !strings.Contains(res.Name, "/") {
				out[res.Name] = true
			}
		}
	}
	return out, nil
}

func notFound(r state.ObjectRef) observation {
	return observation{Ref: r, Status: statusNotFound, Message: "not found"}
}

func notFoundKind(r state.ObjectRef) observation {
	return observation{Ref: r, Status: statusNotFound, Message: fmt.Sprintf("the cluster does not serve %s (its CRD is missing)", r.GVK().GroupKind())}
}

func metaObservation(r state.ObjectRef, om *metav1.ObjectMeta) observation {
	if om.DeletionTimestamp != nil {
		return observation{Ref: r, Status: statusTerminating, Message: "being deleted"}
	}
	return observation{Ref: r, Status: statusCurrent}
}

// crdObservation is kstatus's CRD rule on the typed object, which is read
// as protobuf: KServe's CRDs are megabytes of JSON.
func crdObservation(r state.ObjectRef, crd *apiextv1.CustomResourceDefinition) observation {
	if crd.DeletionTimestamp != nil {
		return observation{Ref: r, Status: statusTerminating, Message: "being deleted"}
	}
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextv1.NamesAccepted && c.Status == apiextv1.ConditionFalse {
			return observation{Ref: r, Status: statusFailed, Message: c.Message, Final: true}
		}
	}
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextv1.Established {
			if c.Status == apiextv1.ConditionTrue {
				return observation{Ref: r, Status: statusCurrent, Message: "established"}
			}
			return observation{Ref: r, Status: statusInProgress, Message: "not established: " + c.Message}
		}
	}
	return observation{Ref: r, Status: statusInProgress, Message: "not established yet"}
}

// computeObservation is kstatus plus the rules kstatus cannot know.
func computeObservation(r state.ObjectRef, u *unstructured.Unstructured) observation {
	res, err := status.Compute(u)
	if err != nil {
		return observation{Ref: r, Status: statusInProgress, Message: "status unreadable: " + err.Error(), Obj: u}
	}
	o := observation{Ref: r, Status: string(res.Status), Message: res.Message, Obj: u}
	if res.Status == status.FailedStatus && u.GetKind() == "Job" {
		o.Final = true
	}
	if res.Status != status.CurrentStatus {
		return o
	}
	if ok, msg := kindReady(u); !ok {
		o.Status, o.Message = statusInProgress, msg
	}
	return o
}

// kindReady holds the readiness rules kstatus leaves out. kstatus calls
// a custom resource Current when it has no status yet, which for an
// InferenceService means "not reconciled", not "ready"; ArgoCD Applications
// report sync and health outside conditions.
func kindReady(u *unstructured.Unstructured) (bool, string) {
	gvk := u.GroupVersionKind()
	switch {
	case gvk.Group == "serving.kserve.io" && gvk.Kind == "InferenceService":
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] != "Ready" {
				continue
			}
			if m["status"] == "True" {
				return true, ""
			}
			msg, _ := m["message"].(string)
			reason, _ := m["reason"].(string)
			return false, fmt.Sprintf("Ready=%v %s %s", m["status"], reason, msg)
		}
		return false, "no Ready condition yet (KServe has not reconciled it)"
	case gvk.Group == "argoproj.io" && gvk.Kind == "Application":
		sync, _, _ := unstructured.NestedString(u.Object, "status", "sync", "status")
		health, _, _ := unstructured.NestedString(u.Object, "status", "health", "status")
		if sync == "Synced" && health == "Healthy" {
			return true, ""
		}
		msg := fmt.Sprintf("sync %q, health %q", sync, health)
		if hm, _, _ := unstructured.NestedString(u.Object, "status", "health", "message"); hm != "" {
			msg += ": " + hm
		}
		if conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions"); len(conds) > 0 {
			if m, ok := conds[0].(map[string]any); ok {
				msg += fmt.Sprintf(" (%v: %v)", m["type"], m["message"])
			}
		}
		return false, msg
	}
	return true, ""
}
