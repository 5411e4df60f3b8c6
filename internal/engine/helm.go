package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/releaseutil"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	sigyaml "sigs.k8s.io/yaml"

	"github.com/neuroscale-dev/neuroscale/internal/logging"
	"github.com/neuroscale-dev/neuroscale/internal/render"
	"github.com/neuroscale-dev/neuroscale/internal/runlock"
	"github.com/neuroscale-dev/neuroscale/internal/state"
)

// crdDoc matches a YAML document whose kind is CustomResourceDefinition.
var crdDoc = regexp.MustCompile(`(?m)^kind:\s*["']?CustomResourceDefinition["']?\s*$`)

// restGetter hands Helm the engine's rest.Config (no kubeconfig file is
// needed, so a k3d or test cluster works the same) and a fresh discovery
// cache per Helm action, so CRDs installed by an earlier stage resolve.
type restGetter struct {
	cfg       *rest.Config
	namespace string
	disc      discovery.CachedDiscoveryInterface
	mapper    meta.RESTMapper
}

var _ genericclioptions.RESTClientGetter = (*restGetter)(nil)

func newRESTGetter(cfg *rest.Config, namespace string) (*restGetter, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	cached := memory.NewMemCacheClient(dc)
	mapper := restmapper.NewShortcutExpander(restmapper.NewDeferredDiscoveryRESTMapper(cached), cached, nil)
	return &restGetter{cfg: cfg, namespace: namespace, disc: cached, mapper: mapper}, nil
}

func (g *restGetter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.cfg), nil }
func (g *restGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	return g.disc, nil
}
func (g *restGetter) ToRESTMapper() (meta.RESTMapper, error) { return g.mapper, nil }
func (g *restGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	return namespaceConfig{cfg: g.cfg, namespace: g.namespace}
}

// namespaceConfig is the minimal clientcmd.ClientConfig Helm needs: it
// asks it for the namespace and nothing else that matters.
type namespaceConfig struct {
	cfg       *rest.Config
	namespace string
}

func (n namespaceConfig) RawConfig() (clientcmdapi.Config, error) {
	c := clientcmdapi.NewConfig()
	c.Clusters["neuroscale"] = &clientcmdapi.Cluster{Server: n.cfg.Host}
	c.Contexts["neuroscale"] = &clientcmdapi.Context{Cluster: "neuroscale", Namespace: n.namespace}
	c.CurrentContext = "neuroscale"
	return *c, nil
}
func (n namespaceConfig) ClientConfig() (*rest.Config, error) { return rest.CopyConfig(n.cfg), nil }
func (n namespaceConfig) Namespace() (string, bool, error)    { return n.namespace, true, nil }
func (n namespaceConfig) ConfigAccess() clientcmd.ConfigAccess {
	return clientcmd.NewDefaultClientConfigLoadingRules()
}

// helmConfig returns an action.Configuration for releases in namespace,
// with Helm's debug output going to the engine's logger.
func (e *Engine) helmConfig(namespace string) (*action.Configuration, error) {
	getter, err := newRESTGetter(e.rest, namespace)
	if err != nil {
		return nil, err
	}
	cfg := new(action.Configuration)
	if err := cfg.Init(getter, namespace, "secret", logging.Printf(e.log, "helm")); err != nil {
		return nil, fmt.Errorf("init helm: %w", err)
	}
	if sec, ok := cfg.Releases.Driver.(*driver.Secrets); ok {
		cfg.Releases.Driver = &releaseSecrets{Secrets: sec, secrets: e.kube.CoreV1().Secrets(namespace)}
	}
	cfg.SetHookOutputFunc(func(_, _, _ string) io.Writer { return io.Discard })
	return cfg, nil
}

// lastRelease returns the newest revision of name, or nil when there is none.
func lastRelease(cfg *action.Configuration, name string) (*release.Release, error) {
	h, err := cfg.Releases.History(name)
	if err != nil {
		if errors.Is(err, driver.ErrReleaseNotFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("read history of release %s: %w", name, err)
	}
	if len(h) == 0 {
		return nil, nil
	}
	releaseutil.Reverse(h, releaseutil.SortByRevision)
	return h[0], nil
}

// recoverRelease clears what an interrupted Helm operation left: a
// release in pending-install, pending-upgrade or pending-rollback would
// make every later upgrade fail with "another operation (install/upgrade/
// rollback) is in progress". With a deployed revision to go back to, it
// rolls back to it; without one (an install that never finished) it
// uninstalls, so that a clean install follows. It returns the release as
// it stands afterwards (nil when uninstalled).
func (e *Engine) recoverRelease(ctx context.Context, cfg *action.Configuration, rel *release.Release, timeout time.Duration) (*release.Release, error) {
	if rel == nil || !(rel.Info.Status.IsPending() || rel.Info.Status == release.StatusUninstalling) {
		return rel, nil
	}
	// Pending is also what a live run's release looks like mid-change:
	// only when no other live run holds the lock on the cluster was it
	// left by an interrupted one.
	holder, err := runlock.LiveHolder(ctx, e.kube, e.store.Namespace(), e.opts.RunHolder)
	if err != nil {
		return nil, err
	}
	if holder != "" {
		return nil, &BusyReleaseError{Release: rel.Name, Namespace: rel.Namespace, Status: string(rel.Info.Status), Holder: holder}
	}
	deployed, err := cfg.Releases.Deployed(rel.Name)
	if err != nil && !errors.Is(err, driver.ErrNoDeployedReleases) && !strings.Contains(err.Error(), "has no deployed releases") {
		return nil, fmt.Errorf("read deployed revision of %s: %w", rel.Name, err)
	}
	if deployed != nil && rel.Info.Status != release.StatusUninstalling {
		e.log.Warn("release was left by an interrupted run; rolling back to its last deployed revision",
			"release", rel.Name, "status", rel.Info.Status, "revision", rel.Version, "to", deployed.Version)
		rb := action.NewRollback(cfg)
		rb.Version = deployed.Version
		rb.Timeout = timeout
		rb.MaxHistory = e.opts.HelmMaxHistory
		if err := runCtx(ctx, func() error { return rb.Run(rel.Name) }); err != nil {
			return nil, fmt.Errorf("roll back interrupted release %s to revision %d: %w", rel.Name, deployed.Version, err)
		}
		// Helm leaves the interrupted revision pending in the history;
		// it is superseded by the rollback, so say so (helm history).
		rel.Info.Status = release.StatusSuperseded
		rel.Info.Description = "Interrupted; rolled back by neuroscale"
		if err := cfg.Releases.Update(rel); err != nil {
			return nil, fmt.Errorf("mark interrupted revision %d of %s superseded: %w", rel.Version, rel.Name, err)
		}
		return lastRelease(cfg, rel.Name)
	}
	e.log.Warn("release was left by an interrupted run with no deployed revision; uninstalling it before installing again",
		"release", rel.Name, "status", rel.Info.Status, "revision", rel.Version)
	un := action.NewUninstall(cfg)
	un.Timeout = timeout
	un.IgnoreNotFound = true
	un.DeletionPropagation = "background"
	if err := runCtx(ctx, func() error { _, err := un.Run(rel.Name); return err }); err != nil {
		return nil, fmt.Errorf("uninstall interrupted release %s: %w", rel.Name, err)
	}
	return nil, nil
}

// runCtx runs a Helm call that takes no context and returns early when
// ctx ends; the call finishes in the background, and what it leaves
// pending is what recoverRelease clears on the next run.
func runCtx(ctx context.Context, fn func() error) error {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// applyChart installs or upgrades a chart step's release (Helm's own wait
// off: the engine waits with kstatus) and returns the release's revision
// and every object it created. The chart's crds/ directory, which Helm
// installs only once and never upgrades, is server-side applied first.
func (e *Engine) applyChart(ctx context.Context, comp string, st *render.Step, timeout time.Duration) (int, []*unstructured.Unstructured, error) {
	chrt, err := st.LoadChart()
	if err != nil {
		return 0, nil, err
	}
	crds, err := chartCRDs(chrt)
	if err != nil {
		return 0, nil, err
	}
	if len(crds) > 0 {
		if _, err := e.applyObjects(ctx, comp, crds, st.Namespace); err != nil {
			return 0, nil, fmt.Errorf("apply CRDs of chart %s: %w", chrt.Name(), err)
		}
	}
	log := e.log.With("release", st.Name, "namespace", st.Namespace)
	var rel *release.Release
	// The whole sequence is retried, not Helm's call alone: an attempt cut
	// by an API server restart can leave the release pending or failed,
	// which the next attempt's recoverRelease and install-or-upgrade
	// choice take from there.
	err = e.retryTransient(ctx, "helm install or upgrade of "+st.Name, func(ctx context.Context) error {
		var err error
		rel, err = e.installOrUpgrade(ctx, st, chrt, timeout, log)
		return err
	})
	if err != nil {
		var he *HelmError
		if ctx.Err() == nil && !errors.As(err, &he) {
			err = &HelmError{Op: "install or upgrade", Release: st.Name, Namespace: st.Namespace, Err: err}
		}
		return 0, nil, err
	}
	log.Debug("helm done", "revision", rel.Version)
	objs, err := parseManifest(rel.Manifest)
	if err != nil {
		return 0, nil, fmt.Errorf("read manifest of release %s: %w", st.Name, err)
	}
	objs = append(crds, objs...)
	if err := e.defaultNamespaces(objs, st.Namespace); err != nil {
		return 0, nil, err
	}
	return rel.Version, objs, nil
}

// installOrUpgrade is one attempt at a chart step's release: it clears what
// an interrupted operation left, then installs (no release, or none ever
// deployed) or upgrades it, Helm's own wait off.
func (e *Engine) installOrUpgrade(ctx context.Context, st *render.Step, chrt *chart.Chart, timeout time.Duration, log *slog.Logger) (*release.Release, error) {
	cfg, err := e.helmConfig(st.Namespace)
	if err != nil {
		return nil, err
	}
	rel, err := lastRelease(cfg, st.Name)
	if err != nil {
		return nil, err
	}
	if rel, err = e.recoverRelease(ctx, cfg, rel, timeout); err != nil {
		return nil, err
	}
	values := st.Values
	if values == nil {
		values = map[string]any{}
	}
	fresh, err := needsInstall(cfg, rel)
	if err != nil {
		return nil, err
	}
	if fresh {
		in := action.NewInstall(cfg)
		in.ReleaseName = st.Name
		in.Namespace = st.Namespace
		in.CreateNamespace = true
		in.SkipCRDs = true
		in.Wait = false
		in.Timeout = timeout
		in.Replace = rel != nil
		in.PostRenderer = keepCRDs{}
		// Adopt objects of the release that exist without Helm's marks:
		// left by an interrupted uninstall, or re-created by a controller
		// (ClusterRole aggregation does that), they would otherwise fail
		// the install with "cannot be imported into the current release".
		in.TakeOwnership = true
		// The API server validates every object against the same
		// schemas; Helm's client-side pass re-validates KServe's and
		// Kyverno's 300–650 KB CRDs and cost seconds per release.
		in.DisableOpenAPIValidation = true
		log.Debug("helm install")
		rel, err = in.RunWithContext(ctx, chrt, values)
		if err != nil {
			return nil, &HelmError{Op: "install", Release: st.Name, Namespace: st.Namespace, Err: err}
		}
	} else {
		up := action.NewUpgrade(cfg)
		up.Namespace = st.Namespace
		up.SkipCRDs = true
		up.Wait = false
		up.Timeout = timeout
		up.ResetValues = true
		up.MaxHistory = e.opts.HelmMaxHistory
		up.PostRenderer = keepCRDs{}
		up.TakeOwnership = true
		up.DisableOpenAPIValidation = true
		log.Debug("helm upgrade", "from", rel.Version)
		rel, err = up.RunWithContext(ctx, st.Name, chrt, values)
		if err != nil {
			return nil, &HelmError{Op: "upgrade", Release: st.Name, Namespace: st.Namespace, Err: err}
		}
	}
	return rel, nil
}

// needsInstall reports whether a release must be installed rather than
// upgraded: it does not exist, was uninstalled, or never deployed (a first
// install that failed; Helm refuses to upgrade it: "has no deployed
// releases"). A failed install is installed again in place (Replace).
func needsInstall(cfg *action.Configuration, rel *release.Release) (bool, error) {
	if rel == nil || rel.Info.Status == release.StatusUninstalled {
		return true, nil
	}
	if rel.Info.Status != release.StatusFailed {
		return false, nil
	}
	deployed, err := cfg.Releases.Deployed(rel.Name)
	if err != nil && !errors.Is(err, driver.ErrNoDeployedReleases) && !strings.Contains(err.Error(), "has no deployed releases") {
		return false, fmt.Errorf("read deployed revision of %s: %w", rel.Name, err)
	}
	return deployed == nil, nil
}

// chartCRDs returns the objects of a chart's crds/ directories (its
// subcharts' included).
func chartCRDs(ch *chart.Chart) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, f := range ch.CRDObjects() {
		objs, err := parseManifest(string(f.File.Data))
		if err != nil {
			return nil, fmt.Errorf("read %s of chart %s: %w", f.Filename, ch.Name(), err)
		}
		out = append(out, objs...)
	}
	return out, nil
}

// parseManifest splits a multi-document YAML into objects, skipping
// empty documents.
func parseManifest(manifest string) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if items, ok, _ := unstructured.NestedSlice(m, "items"); ok && strings.HasSuffix(u.GetKind(), "List") {
			for _, it := range items {
				if im, ok := it.(map[string]any); ok {
					out = append(out, &unstructured.Unstructured{Object: im})
				}
			}
			continue
		}
		if u.GetKind() == "" || u.GetName() == "" {
			continue
		}
		out = append(out, u)
	}
	return out, nil
}

// defaultNamespaces puts namespaced objects without a namespace into ns,
// as Helm and kubectl do, so that refs name them exactly.
func (e *Engine) defaultNamespaces(objs []*unstructured.Unstructured, ns string) error {
	for _, o := range objs {
		if o.GetNamespace() != "" {
			continue
		}
		m, ok, err := e.mapping(o.GroupVersionKind())
		if err != nil {
			return err
		}
		// A kind the cluster does not serve yet (its CRD comes later) is
		// left as rendered: render defaults namespaces from the CRDs it
		// rendered, and guessing would turn a cluster-scoped object into
		// a namespaced ref.
		if ok && m.Scope.Name() == meta.RESTScopeNameNamespace {
			o.SetNamespace(ns)
		}
	}
	return nil
}

// secretsResource is where Helm's storage driver keeps releases.
var secretsResource = corev1.SchemeGroupVersion.WithResource("secrets")

// releaseDrift says how the release of step s differs from its record
// (not deployed, or at another revision), or "" when it is as recorded.
func (e *Engine) releaseDrift(ctx context.Context, s state.StepRecord) (string, error) {
	rev, status, err := e.releaseHealth(ctx, s.Namespace, s.Release)
	if err != nil {
		return "", err
	}
	if rev != s.Revision || status != "deployed" {
		return fmt.Sprintf("release %s is %q at revision %d, recorded deployed at %d", s.Release, status, rev, s.Revision), nil
	}
	return "", nil
}

// releaseHealth reads a release's newest revision from the labels of its
// storage Secrets (metadata only: the payload is the whole chart) and
// returns its revision and status, or 0 and "" when it does not exist.
func (e *Engine) releaseHealth(ctx context.Context, namespace, name string) (int, string, error) {
	// Read as metadata: a typed list would carry every revision's
	// payload, megabytes for a chart with large CRDs.
	list, err := e.meta.Resource(secretsResource).Namespace(namespace).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=" + name})
	if err != nil {
		return 0, "", fmt.Errorf("read release %s/%s: %w", namespace, name, err)
	}
	type rev struct {
		v      int
		status string
	}
	var revs []rev
	for _, s := range list.Items {
		v, err := strconv.Atoi(s.Labels["version"])
		if err != nil {
			continue
		}
		revs = append(revs, rev{v, s.Labels["status"]})
	}
	if len(revs) == 0 {
		return 0, "", nil
	}
	sort.Slice(revs, func(i, j int) bool { return revs[i].v > revs[j].v })
	return revs[0].v, revs[0].status, nil
}

// uninstallRelease removes a release; a missing one is no error.
func (e *Engine) uninstallRelease(ctx context.Context, namespace, name string, timeout time.Duration) error {
	err := e.retryTransient(ctx, "helm uninstall of "+name, func(ctx context.Context) error {
		cfg, err := e.helmConfig(namespace)
		if err != nil {
			return err
		}
		rel, err := lastRelease(cfg, name)
		if err != nil || rel == nil {
			return err
		}
		un := action.NewUninstall(cfg)
		un.Timeout = timeout
		un.IgnoreNotFound = true
		un.DeletionPropagation = "background"
		return runCtx(ctx, func() error { _, err := un.Run(name); return err })
	})
	if err != nil && ctx.Err() == nil {
		return &HelmError{Op: "uninstall", Release: name, Namespace: namespace, Err: err}
	}
	return err
}

// BusyReleaseError is a pending release while another live run holds the
// lock on the cluster: that run is changing it, it was not interrupted.
type BusyReleaseError struct {
	Release, Namespace, Status string
	// Holder is the lock holder's identity (see runlock.Holder).
	Holder string
}

// Error implements error.
func (e *BusyReleaseError) Error() string {
	who := e.Holder
	if h, ok := runlock.ParseHolder(e.Holder); ok {
		who = h.Describe()
	}
	return fmt.Sprintf("release %s in namespace %s is %s: %s is changing it", e.Release, e.Namespace, e.Status, who)
}

// Hint implements the command layer's hint interface.
func (e *BusyReleaseError) Hint() string {
	return "wait for that run to finish, then run neuroscale up again"
}

// HelmError is a failed Helm operation.
type HelmError struct {
	Op, Release, Namespace string
	Err                    error
}

// Error implements error.
func (e *HelmError) Error() string {
	return fmt.Sprintf("helm %s of release %s in namespace %s: %v", e.Op, e.Release, e.Namespace, e.Err)
}

// Unwrap returns the underlying error.
func (e *HelmError) Unwrap() error { return e.Err }

// Hint implements the command layer's hint interface.
func (e *HelmError) Hint() string {
	return fmt.Sprintf("helm -n %s history %s shows the release's revisions; run neuroscale up -v for Helm's own log", e.Namespace, e.Release)
}

// refsOf returns the refs of objs, sorted.
func refsOf(objs []*unstructured.Unstructured) []state.ObjectRef {
	out := make([]state.ObjectRef, 0, len(objs))
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		out = append(out, state.ObjectRef{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Namespace: o.GetNamespace(), Name: o.GetName()})
	}
	state.Sort(out)
	return dedupe(out)
}

func dedupe(refs []state.ObjectRef) []state.ObjectRef {
	out := refs[:0]
	for i, r := range refs {
		if i > 0 && r == refs[i-1] {
			continue
		}
		out = append(out, r)
	}
	return out
}

// keepCRDs is a Helm post-renderer that marks every CRD of a release with
// helm.sh/resource-policy: keep. Helm deletes a release's templated CRDs
// on uninstall, and with them every custom resource of their kinds (the
// user's InferenceServices, policies); `down` must keep CRDs unless told
// to purge, and so must a hand-run `helm uninstall`.
type keepCRDs struct{}

// Run implements postrender.PostRenderer.
func (keepCRDs) Run(in *bytes.Buffer) (*bytes.Buffer, error) {
	docs := strings.Split(in.String(), "\n---\n")
	for i, d := range docs {
		if !crdDoc.MatchString(d) {
			continue
		}
		// Keep Helm's "# Source:" comment in front of the document.
		var head []string
		body := d
		for strings.HasPrefix(strings.TrimPrefix(body, "---\n"), "#") {
			body = strings.TrimPrefix(body, "---\n")
			line, rest, _ := strings.Cut(body, "\n")
			head = append(head, line)
			body = rest
		}
		out, ok := markKeep(body)
		if !ok {
			var err error
			if out, err = markKeepParsed(body); err != nil {
				return nil, err
			}
		}
		prefix := ""
		if i == 0 && strings.HasPrefix(d, "---\n") {
			prefix = "---\n"
		}
		if len(head) > 0 {
			prefix += strings.Join(head, "\n") + "\n"
		}
		docs[i] = prefix + out
	}
	return bytes.NewBufferString(strings.Join(docs, "\n---\n")), nil
}

// markKeep adds the keep annotation to a CRD document by inserting one or
// two lines under its block-style top-level metadata, without parsing
// the document: parsing and writing back Kyverno's, KServe's and ArgoCD's
// CRDs was 8% of a cold up's CPU. A document whose annotations hold the
// policy already is returned as it is. ok is false for any shape it does
// not handle (flow-style metadata or annotations other than an empty {},
// the policy written another way); markKeepParsed does those.
func markKeep(doc string) (_ string, ok bool) {
	lines := strings.Split(doc, "\n")
	meta := slices.Index(lines, "metadata:")
	if meta < 0 {
		return "", false
	}
	// The metadata block: its keys' indent is the first child's.
	indent := 0
	end := len(lines)
	annotations := -1
	for i := meta + 1; i < len(lines); i++ {
		l := lines[i]
		t := strings.TrimLeft(l, " ")
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		n := len(l) - len(t)
		if indent == 0 {
			if n == 0 {
				return "", false
			}
			indent = n
		}
		if n == 0 {
			end = i
			break
		}
		if n == indent && strings.HasPrefix(t, "annotations:") {
			if strings.TrimRight(t, " ") != "annotations:" {
				return "", false // flow style, null or a comment
			}
			annotations = i
		}
	}
	if indent == 0 {
		return "", false
	}
	keep := func(n int) string { return strings.Repeat(" ", n) + "helm.sh/resource-policy: keep" }
	var add []string
	at := meta + 1
	if annotations < 0 {
		add = []string{strings.Repeat(" ", indent) + "annotations:", keep(2 * indent)}
	} else {
		// The annotations' own indent is their first entry's.
		child, first := 0, -1
		for i := annotations + 1; i < end; i++ {
			t := strings.TrimLeft(lines[i], " ")
			if t == "" || strings.HasPrefix(t, "#") {
				continue
			}
			if n := len(lines[i]) - len(t); first < 0 {
				child, first = n, i
			} else if n <= indent {
				break
			}
			if (t == "helm.sh/resource-policy: keep" || t == `"helm.sh/resource-policy": keep`) && len(lines[i])-len(t) == child {
				return doc, true // the chart keeps it already
			}
		}
		if child <= indent {
			return "", false // "annotations:" with no entries is null
		}
		switch t := lines[first][child:]; {
		case t == "{}" && (first+1 == end || len(lines[first+1])-len(strings.TrimLeft(lines[first+1], " ")) <= indent):
			// An empty flow mapping on its own line (Kyverno's CRDs).
			lines[first] = keep(child)
			return strings.Join(lines, "\n"), true
		case strings.ContainsAny(t[:1], "{[|>!&*") || !(strings.Contains(t, ": ") || strings.HasSuffix(t, ":")):
			return "", false // a flow collection or a scalar, not block entries
		}
		add, at = []string{keep(child)}, annotations+1
	}
	if strings.Contains(doc, "helm.sh/resource-policy") {
		return "", false
	}
	return strings.Join(slices.Concat(lines[:at], add, lines[at:]), "\n"), true
}

// markKeepParsed adds the keep annotation by parsing the document and
// writing it back.
func markKeepParsed(doc string) (string, error) {
	var m map[string]any
	if err := sigyaml.Unmarshal([]byte(doc), &m); err != nil {
		return "", fmt.Errorf("read a CRD of the release: %w", err)
	}
	u := unstructured.Unstructured{Object: m}
	ann := u.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann["helm.sh/resource-policy"] = "keep"
	u.SetAnnotations(ann)
	out, err := sigyaml.Marshal(u.Object)
	if err != nil {
		return "", fmt.Errorf("write a CRD of the release: %w", err)
	}
	return string(out), nil
}
