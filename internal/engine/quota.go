package engine

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
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

// quotaRecountAfter is how soon a quota that the controller has already
// computed (its status names the limits) without counting one of them is
// re-created: that status is the controller's answer, so waiting the full
// quotaStaleAfter would only add to up's end, where the quota goes in
// last. The pause keeps re-creation to about once per readiness poll.
const quotaRecountAfter = time.Second

// recountDue reports whether q, uncounted, has waited long enough to be
// re-created: quotaRecountAfter once the controller has computed it
// (status.hard set), quotaStaleAfter while it has not (it may be about to).
func (e *Engine) recountDue(q *corev1.ResourceQuota) bool {
	wait := quotaStaleAfter
	if len(q.Status.Hard) > 0 {
		wait = quotaRecountAfter
	}
	return e.clock.Since(q.CreationTimestamp.Time) >= wait
}

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
		if !quotaStale(q) || !e.recountDue(q) {
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

// judgeQuota keeps a quota (observed Current) from counting as Ready while
// kube-controller-manager has not counted one of its limits on a resource
// the cluster serves: until then the quota refuses every object that limit
// counts ("status unknown for quota"), users' InferenceServices included,
// for up to the controller's 5-minute resync unless it is re-created
// (waitReady does, see refreshUncountedQuota). A limit on a resource
// nothing serves (KServe off) can never be counted and is not waited for.
func (e *Engine) judgeQuota(ctx context.Context, o observation, served *servedCache) observation {
	var q corev1.ResourceQuota
	if o.Obj == nil || runtime.DefaultUnstructuredConverter.FromUnstructured(o.Obj.Object, &q) != nil {
		return o
	}
	var missing []string
	for _, name := range quotaUncounted(&q) {
		// count/<resource>.<group>: a resource of a named group, which
		// may not be served; core resources always are.
		if res, ok := strings.CutPrefix(name, "count/"); ok && strings.Contains(res, ".") {
			if servedNow, err := served.has(ctx, e.kube.Discovery(), res); err == nil && !servedNow {
				continue
			}
		}
		missing = append(missing, name)
	}
	if len(missing) > 0 {
		o.Status, o.Message = statusInProgress, "not counted by kube-controller-manager yet: "+strings.Join(missing, ", ")
	}
	return o
}

// refreshUncountedQuota re-creates the quota of observation o when
// judgeQuota found it uncounted and it is due (recountDue): the
// controller counts a quota only when it is created or its limits change,
// so one made before the controller discovered the resource it counts
// (it looks every 30 s) would otherwise wait for the full resync. A quota
// just (re-)created is given time to be counted.
func (e *Engine) refreshUncountedQuota(ctx context.Context, o observation) error {
	if o.Obj == nil || o.Ref.Kind != "ResourceQuota" || o.Status != statusInProgress {
		return nil
	}
	var q corev1.ResourceQuota
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Obj.Object, &q); err != nil {
		return fmt.Errorf("read quota %s: %w", o.Ref, err)
	}
	if !e.recountDue(&q) {
		return nil
	}
	if err := e.recreateQuota(ctx, &q); err != nil {
		return err
	}
	e.log.Info("re-created a quota the controller had not counted yet", "quotas", []string{q.Namespace + "/" + q.Name})
	return nil
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
	return nil
}
