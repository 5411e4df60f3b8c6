package engine

import (
	"context"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/neuroscale-dev/neuroscale/internal/dag"
	"github.com/neuroscale-dev/neuroscale/internal/render"
	"github.com/neuroscale-dev/neuroscale/internal/state"
)

// Components returns the recorded components as stages for Reverse: the
// graph as it was applied, from the records alone, so down works without
// rendering (or downloading) anything. Needs on components that have no
// record are dropped.
func (e *Engine) Components() []dag.Stage {
	e.mu.Lock()
	defer e.mu.Unlock()
	names := e.recordNamesLocked()
	out := make([]dag.Stage, 0, len(names))
	for _, n := range names {
		var needs []string
		for _, d := range e.records[n].Needs {
			if _, ok := e.records[d]; ok {
				needs = append(needs, d)
			}
		}
		out = append(out, dag.FuncStage{StageName: n, StageNeeds: needs})
	}
	return out
}

// Load reads the records without creating anything; down and status use
// it instead of Prepare.
func (e *Engine) Load(ctx context.Context) error { return e.load(ctx, "") }

// RemoveOptions configure Remove.
type RemoveOptions struct {
	// Purge also deletes CRDs (and with them every custom resource) and
	// namespaces that still hold data.
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
		return &dag.NoChange{Reason: "not installed"}
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
			// Helm runs the chart's delete hooks and deletes what it
			// templated, except the CRDs (neuroscale marks them keep).
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
			default:
				// Chart objects too: Helm deletes them, but a controller
				// may put one back (Kubernetes' ClusterRole aggregation
				// re-creates an aggregated role deleted while it syncs),
				// so deleteObjects deletes until they stay gone.
				toDelete = append(toDelete, r)
			}
		}
	}
	log := e.log.With("component", name)
	log.Debug("deleting what the component applied", "objects", len(toDelete))
	if err := e.deleteObjects(ctx, toDelete, 2*MinBudget); err != nil {
		return err
	}
	log.Debug("deleting namespaces nothing else needs", "candidates", len(namespaces))
	if err := e.removeNamespaces(ctx, name, namespaces, opts.Purge); err != nil {
		return err
	}
	if opts.Purge && len(crds) > 0 {
		log.Debug("purging CRDs", "crds", len(crds))
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
				// It is the user's now: drop the label that marks it as
				// neuroscale's, so nothing labelled neuroscale's is left.
				if err := e.disown(ctx, ns); err != nil {
					return err
				}
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

// disown removes neuroscale's component label from a namespace that down
// keeps.
func (e *Engine) disown(ctx context.Context, ns string) error {
	patch := []byte(`[{"op":"remove","path":"/metadata/labels/` + strings.ReplaceAll(state.LabelComponent, "/", "~1") + `"}]`)
	cur, err := e.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("read namespace %s: %w", ns, err)
	}
	if _, ok := cur.Labels[state.LabelComponent]; !ok {
		return nil
	}
	if _, err := e.kube.CoreV1().Namespaces().Patch(ctx, ns, types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("unlabel namespace %s: %w", ns, err)
	}
	return nil
}
