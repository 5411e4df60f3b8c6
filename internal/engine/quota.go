package engine

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// quotaUnknownRe finds the quota named in the API server's "status
// unknown for quota: NAME, resources: ..." refusal.
var quotaUnknownRe = regexp.MustCompile(`status unknown for quota: ([a-z0-9.-]+)`)

// quotaStaleAfter is how long a quota may lack usage for a resource before
// it is re-created. The controller-manager computes a quota's usage when
// the quota is created or its spec.hard changes, and otherwise only on its
// full resync (5 minutes by default). A quota that counts a custom
// resource (count/inferenceservices.serving.kserve.io) created before the
// controller discovered that resource (it looks every 30 s) therefore
// refuses every such object for up to 5 minutes: the demo InferenceService
// races exactly this on a fresh cluster, k3s as much as any.
const quotaStaleAfter = 3 * time.Second

// refreshStaleQuotas re-creates each quota named in err, in the namespaces
// of objs, whose status still lacks one of its hard limits, so the
// controller computes it again now. It returns what it re-created.
func (e *Engine) refreshStaleQuotas(ctx context.Context, err error, objs []*unstructured.Unstructured) ([]string, error) {
	m := quotaUnknownRe.FindStringSubmatch(err.Error())
	if m == nil {
		return nil, nil
	}
	seen := map[string]bool{}
	var done []string
	for _, o := range objs {
		ns := o.GetNamespace()
		if ns == "" || seen[ns] {
			continue
		}
		seen[ns] = true
		q, gerr := e.kube.CoreV1().ResourceQuotas(ns).Get(ctx, m[1], metav1.GetOptions{})
		if apierrors.IsNotFound(gerr) {
			continue
		}
		if gerr != nil {
			return done, fmt.Errorf("read quota %s/%s: %w", ns, m[1], gerr)
		}
		if !quotaStale(q) || e.clock.Since(q.CreationTimestamp.Time) < quotaStaleAfter {
			continue
		}
		if err := e.recreateQuota(ctx, q); err != nil {
			return done, err
		}
		done = append(done, ns+"/"+q.Name)
	}
	return done, nil
}

// quotaStale reports a quota whose status lacks usage for a hard limit.
func quotaStale(q *corev1.ResourceQuota) bool { return len(quotaUncounted(q)) > 0 }

// quotaUncounted lists, sorted, the hard limits of q whose usage its
// status does not hold yet.
func quotaUncounted(q *corev1.ResourceQuota) []string {
	var out []string
	for name := range q.Spec.Hard {
		_, used := q.Status.Used[name]
		_, hard := q.Status.Hard[name]
		if !used || !hard {
			out = append(out, string(name))
		}
	}
	sort.Strings(out)
	return out
}

// recreateQuota deletes q (if it is still that object) and creates it
// again with the same spec, so the controller computes it now.
func (e *Engine) recreateQuota(ctx context.Context, q *corev1.ResourceQuota) error {
	fresh := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: q.Name, Namespace: q.Namespace, Labels: q.Labels, Annotations: q.Annotations},
		Spec:       q.Spec,
	}
	// Delete and create rather than update: only a new quota or a
	// changed spec.hard makes the controller compute it.
	if err := e.kube.CoreV1().ResourceQuotas(q.Namespace).Delete(ctx, q.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &q.UID}}); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("re-create quota %s/%s: %w", q.Namespace, q.Name, err)
	}
	if _, err := e.kube.CoreV1().ResourceQuotas(q.Namespace).Create(ctx, fresh, metav1.CreateOptions{FieldManager: FieldManager}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("re-create quota %s/%s: %w", q.Namespace, q.Name, err)
	}
	e.log.Info("re-created a quota kube-controller-manager had not counted", "quota", q.Namespace+"/"+q.Name)
	return nil
}
