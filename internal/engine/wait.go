package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/neuroscale-dev/neuroscale/internal/state"
)

// errBudget is what poll returns when the budget ran out first.
var errBudget = errors.New("wait budget exhausted")

// firstPause is poll's first pause: a fast cluster is seen ready at once.
const firstPause = 50 * time.Millisecond

// poll is the engine's one wait: it calls cond until cond reports done or
// fails, ctx ends (ctx.Err()), or budget runs out on the engine's clock
// (errBudget, after a last look). Pauses start at 50ms and grow by half up
// to maxPause, so a fast cluster is seen ready at once and a slow one is
// not hammered. Growth is gentle because readiness is usually a second or
// two away: a doubling pause would often notice it a second late, on
// every step of the critical path.
func (e *Engine) poll(ctx context.Context, budget, maxPause time.Duration, cond func(ctx context.Context) (done bool, err error)) error {
	deadline := e.clock.Now().Add(budget)
	pause := firstPause
	for {
		done, err := cond(ctx)
		if err != nil || done {
			return err
		}
		left := deadline.Sub(e.clock.Now())
		if left <= 0 {
			return errBudget
		}
		t := e.clock.NewTimer(min(pause, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C():
		}
		pause = min(pause+pause/2, maxPause)
	}
}

// waitReady waits until every ref is Current (kstatus plus kindReady),
// fails at once when one failed for good, and otherwise fails when budget
// runs out, naming each object that is not Ready, its last status and the
// likely cause. first, when set, is an observation already made (the
// cheap health check's), so a healthy platform costs no second look.
func (e *Engine) waitReady(ctx context.Context, what string, refs []state.ObjectRef, budget time.Duration, first map[state.ObjectRef]observation) error {
	pending := append([]state.ObjectRef(nil), refs...)
	last := map[state.ObjectRef]observation{}
	start := e.clock.Now()
	err := e.poll(ctx, budget, e.opts.MaxPoll, func(ctx context.Context) (bool, error) {
		obs := first
		first = nil
		if obs == nil {
			var err error
			obs, err = e.observe(ctx, pending)
			if err != nil {
				if ctx.Err() != nil {
					return false, ctx.Err()
				}
				// A failed read is not a verdict on the object: log it
				// and look again, within the budget.
				e.log.Debug("readiness poll failed", "what", what, "err", err)
				obs = map[state.ObjectRef]observation{}
			}
		}
		var still []state.ObjectRef
		var final []observation
		for _, r := range pending {
			o, ok := obs[r]
			if !ok {
				still = append(still, r)
				continue
			}
			last[r] = o
			if err := e.refreshUncountedQuota(ctx, o); err != nil {
				e.log.Debug("could not re-create an uncounted quota", "quota", r.String(), "err", err)
			}
			switch {
			case o.Status == statusCurrent:
			case o.Final:
				final = append(final, o)
			default:
				still = append(still, r)
			}
		}
		if len(final) > 0 {
			return false, &WaitTimeoutError{What: what, Failed: true, Objects: e.explain(ctx, final)}
		}
		pending = still
		return len(pending) == 0, nil
	})
	// The run ended the wait (Ctrl-C, --timeout) before the budget did.
	interrupted := err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err())
	if !errors.Is(err, errBudget) && !interrupted {
		return err
	}
	explainCtx := ctx
	if interrupted {
		// Say what was still not Ready: a wait stopped after minutes on
		// an object that cannot become Ready (an InferenceService no
		// ingress takes) otherwise ends with "interrupted" alone. One
		// last look, and the look around, get a moment of their own: the
		// run's is over.
		var cancel context.CancelFunc
		explainCtx, cancel = context.WithTimeout(context.WithoutCancel(ctx), explainTimeout)
		defer cancel()
		if pending = e.lastLook(explainCtx, pending, last); len(pending) == 0 {
			return err
		}
	}
	var nr []observation
	for _, r := range pending {
		o, ok := last[r]
		if !ok {
			o = observation{Ref: r, Status: "Unknown", Message: "could not be read"}
		}
		nr = append(nr, o)
	}
	if interrupted {
		return &WaitTimeoutError{What: what, Waited: e.clock.Now().Sub(start), Interrupted: err, Objects: e.explain(explainCtx, nr)}
	}
	return &WaitTimeoutError{What: what, Budget: budget, Objects: e.explain(ctx, nr)}
}

// lastLook observes pending once more, records what it sees in last and
// returns the refs still not Current (all of pending when the look fails).
// Unlike a poll it changes nothing: it runs after the run was interrupted.
func (e *Engine) lastLook(ctx context.Context, pending []state.ObjectRef, last map[state.ObjectRef]observation) []state.ObjectRef {
	obs, err := e.observe(ctx, pending)
	if err != nil {
		return pending
	}
	var still []state.ObjectRef
	for _, r := range pending {
		o, ok := obs[r]
		if ok {
			last[r] = o
		}
		if !ok || o.Status != statusCurrent {
			still = append(still, r)
		}
	}
	return still
}

// explainTimeout bounds the look around the objects a wait was still on
// when the run was interrupted, so Ctrl-C is not held up by it.
const explainTimeout = 5 * time.Second

// explain turns observations into NotReady entries with a likely cause,
// workloads first: a Deployment that is not ready is usually why the
// Service or webhook next to it is not either.
func (e *Engine) explain(ctx context.Context, obs []observation) []NotReady {
	sort.SliceStable(obs, func(i, j int) bool { return rank(obs[i].Ref.Kind) < rank(obs[j].Ref.Kind) })
	out := make([]NotReady, 0, len(obs))
	for i, o := range obs {
		nr := NotReady{Object: o.Ref.String(), Status: o.Status, Message: o.Message, Hint: describeHint(o.Ref)}
		// Looking around costs requests; the first few are what the
		// message shows anyway.
		if i < 5 {
			nr.Cause = e.cause(ctx, o)
		}
		out = append(out, nr)
	}
	return out
}

func rank(kind string) int {
	switch kind {
	case "Deployment", "StatefulSet", "DaemonSet", "Job":
		return 0
	case "InferenceService", "Application":
		return 1
	case "CustomResourceDefinition":
		return 2
	}
	return 3
}

func describeHint(r state.ObjectRef) string {
	kind := strings.ToLower(r.Kind)
	if r.Group != "" {
		kind += "." + r.Group
	}
	if r.Namespace == "" {
		return fmt.Sprintf("kubectl describe %s %s", kind, r.Name)
	}
	h := fmt.Sprintf("kubectl -n %s describe %s %s", r.Namespace, kind, r.Name)
	switch r.Kind {
	case "Deployment", "StatefulSet", "DaemonSet":
		h += fmt.Sprintf("; kubectl -n %s logs %s/%s --all-containers", r.Namespace, strings.ToLower(r.Kind), r.Name)
	}
	return h
}

// cause looks at what stands behind an object that is not ready: for a
// workload its pods (waiting reasons, unschedulable, unbound claims).
func (e *Engine) cause(ctx context.Context, o observation) string {
	if o.Status == statusNotFound {
		return ""
	}
	if o.Obj == nil {
		return ""
	}
	switch o.Ref.Kind {
	case "Deployment", "StatefulSet", "DaemonSet", "Job":
	case "InferenceService":
		return inferenceServiceCause(o.Obj)
	default:
		return ""
	}
	sel, found, _ := unstructured.NestedMap(o.Obj.Object, "spec", "selector")
	if !found {
		return ""
	}
	ls := &metav1.LabelSelector{}
	if ml, ok := sel["matchLabels"].(map[string]any); ok {
		ls.MatchLabels = map[string]string{}
		for k, v := range ml {
			ls.MatchLabels[k] = fmt.Sprint(v)
		}
	}
	selector, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil || selector.Empty() {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	pods, err := e.kube.CoreV1().Pods(o.Ref.Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
	if err != nil {
		return ""
	}
	if len(pods.Items) == 0 {
		return "no pods were created (kubectl -n " + o.Ref.Namespace + " get events)"
	}
	for _, p := range pods.Items {
		if c := podCause(&p); c != "" {
			return c
		}
	}
	return ""
}

// inferenceServiceCause names why an InferenceService is not Ready from
// the conditions KServe copies from Knative, or "". A Route whose Ingress
// no controller takes says IngressNotConfigured, and only its message
// ("Ingress has not yet been reconciled") reaches the Ready condition: that
// is Knative with an ingress class other than Kourier's (the seed's
// failure), which nothing else the wait sees names.
func inferenceServiceCause(u *unstructured.Unstructured) string {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["reason"] == "IngressNotConfigured" && m["status"] != "True" {
			return fmt.Sprintf("%v is %v, IngressNotConfigured: no ingress controller took its Knative Ingress, as when Knative's ingress class (configmap config-network, ingress-class) is not Kourier's; neuroscale doctor checks it", m["type"], m["status"])
		}
	}
	return ""
}

// podCause names why one pod is not ready, or "".
func podCause(p *corev1.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			msg := c.Message
			if strings.Contains(msg, "PersistentVolumeClaim") {
				return fmt.Sprintf("pod %s cannot be scheduled: %s (is there a StorageClass with a provisioner?)", p.Name, msg)
			}
			return fmt.Sprintf("pod %s cannot be scheduled: %s", p.Name, msg)
		}
	}
	statuses := append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
	for _, cs := range statuses {
		if w := cs.State.Waiting; w != nil && w.Reason != "" && w.Reason != "ContainerCreating" && w.Reason != "PodInitializing" {
			msg := fmt.Sprintf("container %s of pod %s is waiting: %s", cs.Name, p.Name, w.Reason)
			if w.Message != "" {
				msg += ": " + firstLine(w.Message)
			}
			return msg
		}
		if t := cs.LastTerminationState.Terminated; t != nil && cs.RestartCount > 0 && !cs.Ready {
			return fmt.Sprintf("container %s of pod %s restarted %d times, last exit %d (%s)", cs.Name, p.Name, cs.RestartCount, t.ExitCode, t.Reason)
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Running != nil && !cs.Ready {
			return fmt.Sprintf("container %s of pod %s runs but is not ready yet (its readiness probe has not passed)", cs.Name, p.Name)
		}
	}
	if p.Status.Phase == corev1.PodPending {
		return fmt.Sprintf("pod %s is Pending", p.Name)
	}
	return ""
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// labelsMatch reports whether selector (nil: everything) matches set.
func labelsMatch(selector *metav1.LabelSelector, set map[string]string) bool {
	if selector == nil {
		return true
	}
	s, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		return false
	}
	return s.Matches(labels.Set(set))
}
