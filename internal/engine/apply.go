package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/fluxcd/pkg/ssa"
	"github.com/fluxcd/pkg/ssa/utils"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/neuroscale-dev/neuroscale/internal/state"
)

// prepare returns deep copies of objs labelled with their component, with
// namespaced objects defaulted into ns: the objects as applied.
func (e *Engine) prepare(comp string, objs []*unstructured.Unstructured, ns string) ([]*unstructured.Unstructured, error) {
	out := make([]*unstructured.Unstructured, 0, len(objs))
	for _, o := range objs {
		c := o.DeepCopy()
		l := c.GetLabels()
		if l == nil {
			l = map[string]string{}
		}
		// The label lets `down` and tests find every object neuroscale
		// applied even without its records.
		l[state.LabelComponent] = comp
		c.SetLabels(l)
		out = append(out, c)
	}
	if err := e.defaultNamespaces(out, ns); err != nil {
		return nil, err
	}
	return out, nil
}

// applyObjects server-side applies objs with the neuroscale field manager:
// CRDs, namespaces and cluster roles first, then (once the CRDs are
// Established, so their kinds resolve) classes, then everything else.
// This is fluxcd/pkg/ssa's ApplyAllStaged, except that the wait between
// the stages honours ctx, so Ctrl-C is not held up by it. Objects that are
// already as desired are not written (ssa compares a dry-run with the live
// object), so re-applying an unchanged set changes no resourceVersion.
func (e *Engine) applyObjects(ctx context.Context, comp string, objs []*unstructured.Unstructured, ns string) ([]*unstructured.Unstructured, error) {
	prepared, err := e.prepare(comp, objs, ns)
	if err != nil {
		return nil, err
	}
	var defs, classes, rest []*unstructured.Unstructured
	for _, o := range prepared {
		switch {
		case utils.IsClusterDefinition(o):
			defs = append(defs, o)
		case utils.IsClassDefinition(o), isQuota(o):
			// Quotas and limit ranges go before what they constrain: an
			// object counted by a quota the API server has not computed
			// yet is refused ("status unknown for quota").
			classes = append(classes, o)
		default:
			rest = append(rest, o)
		}
	}
	for i, set := range [][]*unstructured.Unstructured{defs, classes, rest} {
		if len(set) == 0 {
			continue
		}
		if err := e.applyAll(ctx, set); err != nil {
			return nil, err
		}
		if i == 0 {
			var crds []*unstructured.Unstructured
			for _, o := range set {
				if utils.IsCRD(o) {
					crds = append(crds, o)
				}
			}
			if len(crds) > 0 {
				if err := e.waitReady(ctx, "CRDs", refsOf(crds), MinBudget, nil); err != nil {
					return nil, err
				}
			}
		}
	}
	return prepared, nil
}

// applyAll is ssa's ApplyAll, retried while the failure is one that time
// fixes (see retryTransient). ApplyAll sorts its argument, so it gets a
// copy of the slice.
func (e *Engine) applyAll(ctx context.Context, objs []*unstructured.Unstructured) error {
	opts := ssa.DefaultApplyOptions()
	opts.WaitInterval = 500 * time.Millisecond
	err := e.retryTransient(ctx, "server-side apply", func(ctx context.Context) error {
		set := make([]*unstructured.Unstructured, len(objs))
		for i, o := range objs {
			set[i] = o.DeepCopy()
		}
		cs, err := e.rm.ApplyAll(ctx, set, opts)
		if err == nil {
			if e.log.Enabled(ctx, slog.LevelDebug) && cs != nil {
				for _, en := range cs.Entries {
					if en.Action != ssa.UnchangedAction {
						e.log.Debug("applied", "object", en.Subject, "action", en.Action)
					}
				}
			}
			return nil
		}
		if strings.Contains(err.Error(), "status unknown for quota") {
			if done, qerr := e.refreshStaleQuotas(ctx, err, objs); qerr != nil {
				e.log.Debug("quota not refreshed", "err", qerr)
			} else if len(done) > 0 {
				e.log.Info("re-created a quota the controller had not counted yet", "quotas", done)
			}
		}
		return err
	})
	if err != nil && ctx.Err() == nil {
		return &ApplyError{Err: err}
	}
	return err
}

// ApplyError is a server-side apply the API server refused.
type ApplyError struct{ Err error }

// Error implements error.
func (e *ApplyError) Error() string { return "server-side apply: " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *ApplyError) Unwrap() error { return e.Err }

// Hint implements the command layer's hint interface.
func (e *ApplyError) Hint() string {
	msg := e.Err.Error()
	switch {
	case strings.Contains(msg, "failed calling webhook"):
		return "an admission webhook did not answer; the message names it and its service: check that service's pods (kubectl -n <namespace> get pods)"
	case strings.Contains(msg, "status unknown for quota"):
		return "the namespace's ResourceQuota has not been counted by kube-controller-manager yet (neuroscale re-created it, but the controller had still not discovered the resource it counts); run neuroscale up again in a minute, and if it persists check kube-controller-manager (kubectl -n kube-system get pods)"
	case strings.Contains(msg, "conflict"):
		return "another field manager owns these fields; neuroscale takes ownership on the next up, or remove the other manager's changes"
	}
	return "run neuroscale render to see the objects; neuroscale validate checks them against the platform rules"
}

// deleteObjects deletes refs (background propagation) and waits until
// they are gone; missing ones are fine. An object that comes back while
// waiting (a controller re-created it) is deleted again.
func (e *Engine) deleteObjects(ctx context.Context, refs []state.ObjectRef, budget time.Duration) error {
	if err := e.deleteRefs(ctx, refs); err != nil {
		return err
	}
	return e.waitGone(ctx, refs, budget)
}

func (e *Engine) deleteRefs(ctx context.Context, refs []state.ObjectRef) error {
	for _, r := range refs {
		m, ok, err := e.mapping(r.GVK())
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		err = e.dyn.Resource(m.Resource).Namespace(scoped(m, r.Namespace)).Delete(ctx, r.Name, deleteBackground())
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete %s: %w", r, err)
		}
	}
	return nil
}

// goneSettle is how long deleted ClusterRoles must stay gone before they
// count as gone: Kubernetes' ClusterRole aggregation applies an
// aggregated role whenever a role it aggregates changes, and an apply
// re-creates a role deleted a moment before (seen in down --purge of
// Knative, whose aggregated roles came back after down had returned).
const goneSettle = 500 * time.Millisecond

// waitGone waits until no ref exists any more, deleting again what a
// controller puts back.
func (e *Engine) waitGone(ctx context.Context, refs []state.ObjectRef, budget time.Duration) error {
	var settle time.Duration
	for _, r := range refs {
		if r.Kind == "ClusterRole" {
			settle = goneSettle
			break
		}
	}
	var goneSince time.Time
	pending := refs
	err := e.poll(ctx, budget, e.opts.MaxPoll, func(ctx context.Context) (bool, error) {
		obs, err := e.observe(ctx, pending)
		if err != nil {
			return false, err
		}
		var still, back []state.ObjectRef
		for _, r := range pending {
			switch obs[r].Status {
			case statusNotFound:
			case statusTerminating:
				still = append(still, r)
			default:
				still = append(still, r)
				back = append(back, r)
			}
		}
		pending = still
		if len(pending) == 0 {
			if goneSince.IsZero() {
				goneSince = e.clock.Now()
			}
			if e.clock.Since(goneSince) >= settle {
				return true, nil
			}
			pending = refs // look at all of them again after a pause
			return false, nil
		}
		goneSince = time.Time{}
		return false, e.deleteRefs(ctx, back)
	})
	if errors.Is(err, errBudget) && !goneSince.IsZero() {
		return nil // out of budget while settling: all were gone at the last look
	}
	if !errors.Is(err, errBudget) {
		return err
	}
	var names []string
	for i, r := range pending {
		if i == 5 {
			names = append(names, fmt.Sprintf("and %d more", len(pending)-5))
			break
		}
		names = append(names, r.String())
	}
	return fmt.Errorf("still present after %s: %s (finalizers of a controller that is gone? kubectl get %s -o jsonpath='{.metadata.finalizers}')",
		budget, strings.Join(names, ", "), strings.ToLower(pending[0].Kind))
}

func deleteBackground() metav1.DeleteOptions {
	bg := metav1.DeletePropagationBackground
	return metav1.DeleteOptions{PropagationPolicy: &bg}
}

func isQuota(o *unstructured.Unstructured) bool {
	return o.GetAPIVersion() == "v1" && (o.GetKind() == "ResourceQuota" || o.GetKind() == "LimitRange")
}
