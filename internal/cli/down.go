package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/spf13/cobra"

	"github.com/neuroscale-dev/neuroscale/internal/cluster"
	"github.com/neuroscale-dev/neuroscale/internal/cluster/k3d"
	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/engine"
	"github.com/neuroscale-dev/neuroscale/internal/secrets"
	"github.com/neuroscale-dev/neuroscale/internal/state"
	"github.com/neuroscale-dev/neuroscale/stages"
)

func newDownCmd(g *globals) *cobra.Command {
	var purge bool
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Remove the platform",
		Long: `down deletes the k3d cluster neuroscale created (cluster.provider: k3d); the
image cache stays for the next up unless --purge. On an existing cluster it
uninstalls every component neuroscale recorded, dependents first, and waits
until their objects are gone. CRDs stay, and so do namespaces holding data
(volume claims, InferenceServices, Applications), unless --purge. down ends by
saying what it kept and how to remove it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDown(cmd.Context(), g, purge)
		},
	}
	cmd.Flags().BoolVar(&purge, "purge", false, "also delete CRDs, namespaces with data and (k3d) the image cache")
	return cmd
}

func runDown(ctx context.Context, g *globals, purge bool) error {
	ctx, cancel := g.withTimeout(ctx)
	defer cancel()
	r, err := g.load(ctx)
	if err != nil {
		return err
	}
	if r.Cluster.Provider == config.ProviderK3d {
		// The cluster is neuroscale's own: deleting it removes everything
		// but the image cache, which outlives clusters on purpose.
		if err := k3d.New(r, g.log, k3d.Options{Purge: purge}).Delete(ctx, purge); err != nil {
			return err
		}
		fmt.Fprintf(g.streams.Err, "Deleted k3d cluster %s.\n", r.Cluster.Name)
		if !purge && r.Cluster.ImageCache != nil && *r.Cluster.ImageCache {
			fmt.Fprintf(g.streams.Err, "Kept the image cache (registries on network %s),\n"+
				"so the next up pulls nothing again; neuroscale down --purge removes it.\n", k3d.CacheNetwork)
		}
		return nil
	}
	access, err := cluster.NewExisting(r).Ensure(ctx)
	if err != nil {
		return err
	}
	if err := cluster.Probe(ctx, access); err != nil {
		return err
	}
	eng, err := engine.New(access.REST, engine.Options{Log: g.log})
	if err != nil {
		return err
	}
	if err := Down(ctx, eng, g, purge); err != nil {
		return err
	}
	// The Secret is applied by package secrets, outside the records.
	return secrets.Remove(ctx, access.REST, secrets.DefaultTarget())
}

// Down removes every recorded component from the engine's cluster,
// dependents first, then neuroscale's own records, and says what it kept.
func Down(ctx context.Context, eng *engine.Engine, g *globals, purge bool) error {
	if err := eng.Load(ctx); err != nil {
		return err
	}
	namespaces := recordedNamespaces(eng)
	graph := stages.Down(eng, engine.RemoveOptions{Purge: purge})
	if _, err := g.runStages(ctx, graph); err != nil {
		return err
	}
	if _, err := eng.Store().DeleteAll(ctx); err != nil {
		return err
	}
	if g.output == formatJSON {
		return nil
	}
	if len(graph) == 0 {
		fmt.Fprintln(g.streams.Err, "Nothing installed by neuroscale here.")
		return nil
	}
	fmt.Fprintln(g.streams.Err, "Platform removed.")
	if purge {
		return nil
	}
	k, err := findKept(ctx, eng.REST(), namespaces)
	if err != nil {
		// What was kept is a courtesy; the removal itself succeeded.
		g.log.Warn("could not list what down kept", "err", err)
		return nil
	}
	k.write(g.streams.Err)
	return nil
}

// recordedNamespaces are the namespaces the records say components
// installed into or created, before down forgets them.
func recordedNamespaces(eng *engine.Engine) []string {
	set := map[string]bool{}
	for _, name := range config.ComponentNames {
		rec := eng.Record(name)
		if rec == nil {
			continue
		}
		for _, s := range rec.Steps {
			if s.Namespace != "" {
				set[s.Namespace] = true
			}
			for _, o := range s.Objects {
				if o.Group == "" && o.Kind == "Namespace" {
					set[o.Name] = true
				}
			}
		}
	}
	var out []string
	for ns := range set {
		if ns != "default" && !strings.HasPrefix(ns, "kube-") {
			out = append(out, ns)
		}
	}
	sort.Strings(out)
	return out
}

// kept is what down left in the cluster on purpose.
type kept struct {
	namespaces []string
	// crdGroups are the API groups of the CRDs left, and crds their number.
	crdGroups []string
	crds      int
}

var (
	namespacesGVR = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	crdsGVR       = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
)

// findKept looks which of namespaces still exist, and which CRDs carry
// neuroscale's component label.
func findKept(ctx context.Context, cfg *rest.Config, namespaces []string) (kept, error) {
	var k kept
	mc, err := metadata.NewForConfig(cfg)
	if err != nil {
		return k, err
	}
	for _, ns := range namespaces {
		_, err := mc.Resource(namespacesGVR).Get(ctx, ns, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return k, err
		default:
			k.namespaces = append(k.namespaces, ns)
		}
	}
	list, err := mc.Resource(crdsGVR).List(ctx, metav1.ListOptions{LabelSelector: state.LabelComponent})
	if err != nil {
		return k, err
	}
	groups := map[string]bool{}
	for _, crd := range list.Items {
		if _, group, ok := strings.Cut(crd.Name, "."); ok {
			groups[group] = true
		}
	}
	k.crds = len(list.Items)
	for g := range groups {
		k.crdGroups = append(k.crdGroups, g)
	}
	sort.Strings(k.crdGroups)
	return k, nil
}

// write says what was kept and the command that removes each, short
// lines only.
func (k kept) write(w io.Writer) {
	if len(k.namespaces) == 0 && k.crds == 0 {
		return
	}
	fmt.Fprintln(w, "Kept, as they may hold data or other users' resources:")
	for _, ns := range k.namespaces {
		fmt.Fprintf(w, "  namespace %s: kubectl delete namespace %s\n", ns, ns)
	}
	if k.crds > 0 {
		groups := k.crdGroups
		if len(groups) > 4 {
			groups = append(groups[:4:4], "...")
		}
		fmt.Fprintf(w, "  %d CRDs (%s):\n    kubectl delete crd -l %s\n", k.crds, strings.Join(groups, ", "), state.LabelComponent)
	}
	fmt.Fprintln(w, "Or run neuroscale down --purge next time to remove them with the platform.")
}
