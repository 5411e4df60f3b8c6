// Package state records in the cluster what neuroscale applied, one
// ConfigMap per component in the neuroscale-system namespace, so that a
// re-run knows what is already there without re-rendering or asking Helm,
// `status` can report versions and times, and `down` knows what to remove
// even when the renderer or the network is not available.
//
// A record is written twice per apply: with phase Applying before the first
// object changes, and with phase Applied once the component is Ready. A run
// that is interrupted in between leaves Applying behind, so the next run
// re-applies instead of trusting a digest that was never fully rolled out,
// and the objects of both the old and the new render stay listed for down.
//
// Records are server-side applied and written only when their content
// changes: a no-op `up` leaves every resourceVersion in the cluster as it
// was, the state's included.
package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	corev1apply "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes"
)

// Namespace holds neuroscale's own records.
const Namespace = "neuroscale-system"

// FieldManager is the server-side apply field manager of everything
// neuroscale applies, its records included.
const FieldManager = "neuroscale"

// Labels on the record ConfigMaps; LabelComponent is also put on every
// object neuroscale applies by server-side apply, so that its objects can be
// found without the records.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "neuroscale"
	LabelRecord    = "neuroscale.dev/record"
	LabelComponent = "neuroscale.dev/component"
)

// dataKey is the ConfigMap key holding the JSON record.
const dataKey = "record.json"

// platformRecord names the record that is about the platform as a whole.
const platformRecord = "neuroscale-platform"

// Phase says whether a component's last apply finished.
type Phase string

// Phases of a record.
const (
	// Applying is written before anything changes; if it is still there,
	// the last run did not finish.
	Applying Phase = "Applying"
	// Applied is written when every object of the component was Ready.
	Applied Phase = "Applied"
)

// Record is what neuroscale applied for one component.
type Record struct {
	Component string `json:"component"`
	Version   string `json:"version,omitempty"`
	Profile   string `json:"profile,omitempty"`
	// Needs are the components this one needed when applied; down removes
	// in the reverse order without rendering anything.
	Needs []string `json:"needs,omitempty"`
	// Digest is render.Component.Digest of what was applied.
	Digest string `json:"digest"`
	Phase  Phase  `json:"phase"`
	// AppliedAt is when the apply finished (Applied) or started (Applying).
	AppliedAt time.Time    `json:"appliedAt"`
	Steps     []StepRecord `json:"steps,omitempty"`
}

// StepRecord is one applied step.
type StepRecord struct {
	Name string `json:"name"`
	// Kind is "chart" or "manifest".
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	// Release and Revision are set for charts.
	Release  string `json:"release,omitempty"`
	Revision int    `json:"revision,omitempty"`
	// Objects are every object the step put into the cluster (for charts:
	// the release manifest and the chart's CRDs; hooks are Helm's business).
	Objects []ObjectRef `json:"objects,omitempty"`
}

// ObjectRef names one object.
type ObjectRef struct {
	Group     string `json:"group,omitempty"`
	Version   string `json:"version"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// GVK returns the reference's group, version and kind.
func (o ObjectRef) GVK() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: o.Group, Version: o.Version, Kind: o.Kind}
}

// String is kind/name or kind/namespace/name, as in messages.
func (o ObjectRef) String() string {
	k := o.Kind
	if o.Group != "" {
		k += "." + o.Group
	}
	if o.Namespace == "" {
		return k + "/" + o.Name
	}
	return k + "/" + o.Namespace + "/" + o.Name
}

// Objects returns every object of every step.
func (r *Record) Objects() []ObjectRef {
	var out []ObjectRef
	for _, s := range r.Steps {
		out = append(out, s.Objects...)
	}
	return out
}

// Platform is what neuroscale records about the platform as a whole.
type Platform struct {
	// Profile is the profile of the last `up` that finished.
	Profile   string    `json:"profile"`
	AppliedAt time.Time `json:"appliedAt"`
}

// Store reads and writes the records.
type Store struct {
	kube      kubernetes.Interface
	namespace string
}

// NewStore returns a store in namespace (Namespace when empty).
func NewStore(kube kubernetes.Interface, namespace string) *Store {
	if namespace == "" {
		namespace = Namespace
	}
	return &Store{kube: kube, namespace: namespace}
}

// Namespace is where the records live.
func (s *Store) Namespace() string { return s.namespace }

// configMapName is the record ConfigMap of a component.
func configMapName(component string) string { return "neuroscale-component-" + component }

// EnsureNamespace creates the records' namespace when it is missing. It
// only reads when the namespace exists, so a no-op run changes nothing.
func (s *Store) EnsureNamespace(ctx context.Context) error {
	ns, err := s.kube.CoreV1().Namespaces().Get(ctx, s.namespace, metav1.GetOptions{})
	switch {
	case err == nil && ns.DeletionTimestamp == nil:
		return nil
	case err == nil:
		// A down that just finished leaves it terminating; nothing can be
		// written into it until it is gone.
		if err := s.waitGone(ctx); err != nil {
			return err
		}
	case !apierrors.IsNotFound(err):
		return fmt.Errorf("read namespace %s: %w", s.namespace, err)
	}
	nsApply := corev1apply.Namespace(s.namespace).WithLabels(map[string]string{LabelManagedBy: ManagedBy})
	if _, err := s.kube.CoreV1().Namespaces().Apply(ctx, nsApply, metav1.ApplyOptions{FieldManager: FieldManager, Force: true}); err != nil {
		return fmt.Errorf("create namespace %s: %w", s.namespace, err)
	}
	return nil
}

// Load returns every component record by component name. A missing
// namespace means nothing was ever applied: an empty map, no error.
func (s *Store) Load(ctx context.Context) (map[string]*Record, error) {
	list, err := s.kube.CoreV1().ConfigMaps(s.namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelRecord + "=component"})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return map[string]*Record{}, nil
		}
		return nil, fmt.Errorf("read records in %s: %w", s.namespace, err)
	}
	out := make(map[string]*Record, len(list.Items))
	for i := range list.Items {
		cm := &list.Items[i]
		var r Record
		if err := json.Unmarshal([]byte(cm.Data[dataKey]), &r); err != nil {
			// A record neuroscale cannot read is treated as absent: the
			// component is re-applied, which rewrites it.
			continue
		}
		if r.Component == "" {
			continue
		}
		out[r.Component] = &r
	}
	return out, nil
}

// Save writes r unless prev (what Load returned for the component, or nil)
// already holds the same content, so unchanged records cost no write.
func (s *Store) Save(ctx context.Context, r *Record, prev *Record) error {
	if prev != nil && Equal(r, prev) {
		return nil
	}
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode record of %s: %w", r.Component, err)
	}
	return s.apply(ctx, configMapName(r.Component), "component", map[string]string{LabelComponent: r.Component}, data)
}

// Equal reports whether two records hold the same content.
func Equal(a, b *Record) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

// Delete removes a component's record; a missing one is no error.
func (s *Store) Delete(ctx context.Context, component string) error {
	err := s.kube.CoreV1().ConfigMaps(s.namespace).Delete(ctx, configMapName(component), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete record of %s: %w", component, err)
	}
	return nil
}

// LoadPlatform returns the platform record, or nil when there is none.
func (s *Store) LoadPlatform(ctx context.Context) (*Platform, error) {
	cm, err := s.kube.CoreV1().ConfigMaps(s.namespace).Get(ctx, platformRecord, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read platform record: %w", err)
	}
	var p Platform
	if err := json.Unmarshal([]byte(cm.Data[dataKey]), &p); err != nil {
		return nil, nil
	}
	return &p, nil
}

// SavePlatform writes the platform record when its profile changed; the
// time alone is not worth a write (and a resourceVersion change).
func (s *Store) SavePlatform(ctx context.Context, p *Platform) error {
	prev, err := s.LoadPlatform(ctx)
	if err != nil {
		return err
	}
	if prev != nil && prev.Profile == p.Profile {
		return nil
	}
	data, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode platform record: %w", err)
	}
	return s.apply(ctx, platformRecord, "platform", nil, data)
}

// DeleteAll removes every record and then the namespace if nothing else
// lives in it. It reports whether the namespace was deleted.
func (s *Store) DeleteAll(ctx context.Context) (bool, error) {
	err := s.kube.CoreV1().ConfigMaps(s.namespace).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: LabelRecord})
	if err != nil && !apierrors.IsNotFound(err) {
		return false, fmt.Errorf("delete records: %w", err)
	}
	// The namespace goes only when it holds nothing but what Kubernetes
	// puts into every namespace: someone else's objects are not ours.
	cms, err := s.kube.CoreV1().ConfigMaps(s.namespace).List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("list %s: %w", s.namespace, err)
	}
	for _, cm := range cms.Items {
		if cm.Name != "kube-root-ca.crt" && cm.Labels[LabelRecord] == "" {
			return false, nil
		}
	}
	err = s.kube.CoreV1().Namespaces().Delete(ctx, s.namespace, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return false, fmt.Errorf("delete namespace %s: %w", s.namespace, err)
	}
	return true, s.waitGone(ctx)
}

// namespaceTimeout bounds the wait for the records' namespace to finish
// terminating; it holds a few ConfigMaps, so this is seconds normally.
const namespaceTimeout = 2 * time.Minute

// waitGone waits until the records' namespace no longer exists.
func (s *Store) waitGone(ctx context.Context) error {
	deadline := time.Now().Add(namespaceTimeout)
	for {
		_, err := s.kube.CoreV1().Namespaces().Get(ctx, s.namespace, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read namespace %s: %w", s.namespace, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("namespace %s is still terminating after %s (kubectl get namespace %s -o yaml shows what holds it)", s.namespace, namespaceTimeout, s.namespace)
		}
		t := time.NewTimer(250 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (s *Store) apply(ctx context.Context, name, kind string, labels map[string]string, data []byte) error {
	l := map[string]string{LabelManagedBy: ManagedBy, LabelRecord: kind}
	for k, v := range labels {
		l[k] = v
	}
	cm := corev1apply.ConfigMap(name, s.namespace).WithLabels(l).WithData(map[string]string{dataKey: string(data)})
	_, err := s.kube.CoreV1().ConfigMaps(s.namespace).Apply(ctx, cm, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
	if err != nil {
		return fmt.Errorf("write record %s/%s: %w", s.namespace, name, err)
	}
	return nil
}

// Union returns the objects of a and b, each once, sorted; Applying
// records carry the union of the old and the new objects so that down
// removes both after an interrupted change.
func Union(a, b []ObjectRef) []ObjectRef {
	seen := map[ObjectRef]bool{}
	var out []ObjectRef
	for _, list := range [][]ObjectRef{a, b} {
		for _, o := range list {
			if !seen[o] {
				seen[o] = true
				out = append(out, o)
			}
		}
	}
	Sort(out)
	return out
}

// Sort orders refs by group, kind, namespace and name, so records are
// stable and an unchanged record is byte-for-byte the same.
func Sort(refs []ObjectRef) {
	sort.Slice(refs, func(i, j int) bool {
		a, b := refs[i], refs[j]
		return strings.Join([]string{a.Group, a.Kind, a.Namespace, a.Name, a.Version}, "\x00") <
			strings.Join([]string{b.Group, b.Kind, b.Namespace, b.Name, b.Version}, "\x00")
	})
}

// ErrNoRecord is returned by Get for a component never applied.
var ErrNoRecord = errors.New("no record")

// Get returns one component's record, or ErrNoRecord.
func (s *Store) Get(ctx context.Context, component string) (*Record, error) {
	cm, err := s.kube.CoreV1().ConfigMaps(s.namespace).Get(ctx, configMapName(component), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, ErrNoRecord
	}
	if err != nil {
		return nil, fmt.Errorf("read record of %s: %w", component, err)
	}
	var r Record
	if err := json.Unmarshal([]byte(cm.Data[dataKey]), &r); err != nil {
		return nil, fmt.Errorf("decode record of %s: %w", component, err)
	}
	return &r, nil
}
