package engine

import (
	"context"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/neuroscale-dev/neuroscale/internal/render"
	"github.com/neuroscale-dev/neuroscale/internal/state"
)

// Components returns the recorded components as stages for Reverse: the
// graph as it was applied, from the records alone, so down works without
// rendering (or downloading) anything. Needs on components that have no
// record are dropped.
func (e *Engine) Components() []Stage {
	e.mu.Lock()
	defer e.mu.Unlock()
	names := make([]string, 0, len(e.records))
	for n := range e.records {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]Stage, 0, len(names))
	for _, n := range names {
		var needs []string
		for _, d := range e.records[n].Needs {
			if _, ok := e.records[d]; ok {
				needs = append(needs, d)
			}
		}
		out = append(out, FuncStage{StageName: n, StageNeeds: needs})
	}
	return out
}

// Load reads the records without creating anything; down and status use
// it instead of Prepare.
func (e *Engine) Load(ctx context.Context) error { return e.load(ctx, "") }

// RemoveOptions configure Remove.
type RemoveOptions struct {
	// Purge also deletes CRDs (and with them every custom resource),
	// namespaces that still hold data, and objects Helm keeps on uninstall.
	Purge bool
}

// Remove uninstalls one recorded component: its Helm releases and the
// objects it applied, steps in reverse order, waiting until they are gone.
// CRDs stay unless purging; so do namespaces that hold data (persistent
// volume claims, InferenceServices or Applications someone created) or
// objects of components still installed. The record goes last, so an
// interrupted down can be run again.
func (e *Engine) Remove(ctx context.Context, name string, opts RemoveOptions) error {
	rec := e.Record(name)
	if rec == nil {
		return &NoChange{Reason: "not installed"}
	}
	var toDelete []state.ObjectRef
	var crds []state.ObjectRef
	namespaces := map[string]bool{}
	for i := len(rec.Steps) - 1; i >= 0; i-- {
		s := rec.Steps[i]
		if s.Namespace != "" {
			namespaces[s.Namespace] = true
		}
		if s.Kind == string(render.StepChart) {
			if err := e.uninstallRelease(ctx, s.Namespace, s.Release, MinBudget); err != nil {
				return err
			}
		}
		for _, r := range s.Objects {
			switch {
			case isCRD(r.GVK().GroupKind()):
				crds = append(crds, r)
			case r.Group == "" && r.Kind == "Namespace":
				namespaces[r.Name] = true
			case s.Kind == string(render.StepChart) && !opts.Purge:
				// Helm deleted its objects; what it kept on purpose
				// (helm.sh/resource-policy: keep) stays without --purge.
			default:
				toDelete = append(toDelete, r)
			}
		}
	}
	if s := rec.Steps; len(s) > 0 {
		// Helm deletes in the background; wait for its objects too, so a
		// namespace is judged on what really remains.
		var all []state.ObjectRef
		for _, st := range s {
			if st.Kind == string(render.StepChart) {
				for _, r := range st.Objects {
					if !protected(r) {
						all = append(all, r)
					}
				}
			}
		}
		if opts.Purge {
			all = nil
		}
		if err := e.deleteObjects(ctx, toDelete, 2*MinBudget); err != nil {
			return err
		}
		if err := e.waitGoneIgnoringKept(ctx, all); err != nil {
			return err
		}
	}
	if err := e.removeNamespaces(ctx, name, namespaces, opts.Purge); err != nil {
		return err
	}
	if opts.Purge && len(crds) > 0 {
		if err := e.deleteObjects(ctx, crds, 2*MinBudget); err != nil {
			return fmt.Errorf("delete CRDs: %w", err)
		}
	}
	if err := e.store.Delete(ctx, name); err != nil {
		return err
	}
	e.mu.Lock()
	delete(e.records, name)
	e.mu.Unlock()
	return nil
}

// waitGoneIgnoringKept waits for a release's objects to disappear, except
// those Helm keeps by annotation.
func (e *Engine) waitGoneIgnoringKept(ctx context.Context, refs []state.ObjectRef) error {
	if len(refs) == 0 {
		return nil
	}
	obs, err := e.observe(ctx, refs)
	if err != nil {
		return err
	}
	var wait []state.ObjectRef
	for _, r := range refs {
		o := obs[r]
		if o.Status == statusNotFound {
			continue
		}
		if o.Obj != nil && o.Obj.GetAnnotations()["helm.sh/resource-policy"] == "keep" {
			continue
		}
		wait = append(wait, r)
	}
	// Objects read as metadata only cannot show the annotation; a kept one
	// of those only makes this wait end at the budget, not fail.
	if err := e.waitGone(ctx, wait, MinBudget); err != nil {
		e.log.Warn("some objects of uninstalled releases are still present", "err", err)
	}
	return nil
}

// systemNamespace are namespaces never deleted.
func systemNamespace(ns string) bool {
	return ns == "default" || strings.HasPrefix(ns, "kube-")
}

// removeNamespaces deletes the component's namespaces that nothing else
// needs: not system ones, not the records', not those holding objects of
// other recorded components, and (unless purging) not those with data.
func (e *Engine) removeNamespaces(ctx context.Context, comp string, namespaces map[string]bool, purge bool) error {
	var names []string
	for ns := range namespaces {
		if systemNamespace(ns) || ns == e.store.Namespace() || e.namespaceUsedByOthers(comp, ns) {
			continue
		}
		names = append(names, ns)
	}
	sort.Strings(names)
	var gone []state.ObjectRef
	for _, ns := range names {
		if !purge {
			data, err := e.namespaceData(ctx, ns)
			if err != nil {
				return err
			}
			if data != "" {
				e.log.Info("keeping namespace: it holds data (down --purge deletes it)", "namespace", ns, "data", data)
				continue
			}
		}
		err := e.kube.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete namespace %s: %w", ns, err)
		}
		gone = append(gone, state.ObjectRef{Version: "v1", Kind: "Namespace", Name: ns})
	}
	return e.waitGone(ctx, gone, 2*MinBudget)
}

func (e *Engine) namespaceUsedByOthers(comp, ns string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for n, r := range e.records {
		if n == comp {
			continue
		}
		for _, s := range r.Steps {
			if s.Namespace == ns {
				return true
			}
			for _, o := range s.Objects {
				if o.Namespace == ns || (o.Kind == "Namespace" && o.Name == ns) {
					return true
				}
			}
		}
	}
	return false
}

// namespaceData names the data in ns that deleting it would destroy:
// persistent volume claims and the user's InferenceServices and
// Applications. "" means none.
func (e *Engine) namespaceData(ctx context.Context, ns string) (string, error) {
	pvcs, err := e.kube.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return "", fmt.Errorf("list claims in %s: %w", ns, err)
	}
	if err == nil && len(pvcs.Items) > 0 {
		return fmt.Sprintf("%d PersistentVolumeClaim(s), e.g. %s", len(pvcs.Items), pvcs.Items[0].Name), nil
	}
	for _, ref := range []state.ObjectRef{
		{Group: "serving.kserve.io", Version: "v1beta1", Kind: "InferenceService"},
		{Group: "argoproj.io", Version: "v1alpha1", Kind: "Application"},
	} {
		m, ok, err := e.mapping(ref.GVK())
		if err != nil || !ok {
			continue
		}
		list, err := e.meta.Resource(m.Resource).Namespace(ns).List(ctx, metav1.ListOptions{Limit: 1})
		if err != nil {
			continue
		}
		if len(list.Items) > 0 {
			return fmt.Sprintf("%s %s", ref.Kind, list.Items[0].Name), nil
		}
	}
	return "", nil
}
