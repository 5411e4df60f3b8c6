package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
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
	"github.com/neuroscale-dev/neuroscale/internal/platform"
	"github.com/neuroscale-dev/neuroscale/internal/secrets"
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
	prov := platform.Provider(r, g.log, k3d.Options{Purge: purge})
	if r.Cluster.Provider == config.ProviderK3d {
		// The cluster is neuroscale's own: deleting it removes everything
		// but the image cache, which outlives clusters on purpose.
		if err := prov.Delete(ctx, purge); err != nil {
			return err
		}
		fmt.Fprintf(g.streams.Err, "Deleted k3d cluster %s.\n", r.Cluster.Name)
		if !purge && r.Cluster.ImageCache != nil && *r.Cluster.ImageCache {
			fmt.Fprintf(g.streams.Err, "Kept the image cache (registries on network %s),\n"+
				"so the next up pulls nothing again; neuroscale down --purge removes it.\n", k3d.CacheNetwork)
		}
		return nil
	}
	access, err := prov.Ensure(ctx)
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
	namespaces, crds := recorded(eng)
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
	k, err := findKept(ctx, eng.REST(), namespaces, crds)
	if err != nil {
		// What was kept is a courtesy; the removal itself succeeded.
		g.log.Warn("could not list what down kept", "err", err)
		return nil
	}
	k.write(g.streams.Err)
	return nil
}

// recorded are the namespaces the records say components installed into
// or created, and the CRDs they applied (Helm's included), read before
// down forgets them.
func recorded(eng *engine.Engine) (namespaces, crds []string) {
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
				switch {
				case o.Group == "" && o.Kind == "Namespace":
					set[o.Name] = true
				case o.Group == "apiextensions.k8s.io" && o.Kind == "CustomResourceDefinition":
					crds = append(crds, o.Name)
				}
			}
		}
	}
	for ns := range set {
		if ns != "default" && !strings.HasPrefix(ns, "kube-") {
			namespaces = append(namespaces, ns)
		}
	}
	sort.Strings(namespaces)
	sort.Strings(crds)
	return namespaces, slices.Compact(crds)
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

// findKept looks which of namespaces and crds still exist.
func findKept(ctx context.Context, cfg *rest.Config, namespaces, crds []string) (kept, error) {
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
	groups := map[string]bool{}
	for _, name := range crds {
		_, err := mc.Resource(crdsGVR).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			return k, err
		}
		k.crds++
		if _, group, ok := strings.Cut(name, "."); ok {
			groups[group] = true
		}
	}
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
		shown := k.crdGroups
		if len(shown) > 4 {
			shown = append(shown[:4:4], "...")
		}
		fmt.Fprintf(w, "  %d CRDs (%s):\n", k.crds, strings.Join(shown, ", "))
		fmt.Fprintf(w, "    kubectl get crd -o name | grep -E '\\.(%s)$' | xargs kubectl delete\n",
			strings.ReplaceAll(strings.Join(k.crdGroups, "|"), ".", "\\."))
	}
	fmt.Fprintln(w, "Or run neuroscale down --purge next time to remove them with the platform.")
}
