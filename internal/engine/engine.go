// Package engine installs a rendered platform into a cluster and keeps it
// converged: Converge, which
// applies a component's steps (Helm SDK for charts, fluxcd/pkg/ssa
// server-side apply for manifests) and waits until what it applied is
// really Ready (kstatus, rollout budgets derived from the workloads' own
// probes, admission webhooks that answer); records of what was applied in
// the cluster (package state), so an unchanged re-run only checks health;
// Remove for `down`; and Status for `status`. Package dag runs the graph
// of stages (one per component) in dependency order, independent ones in
// parallel; package progress shows it.
//
// The engine knows nothing about k3d: it gets a rest.Config and works on
// whatever cluster that reaches. The per-component knowledge (webhook
// samples, extra readiness checks) and the graph live in package stages.
//
// Extension points, for packages that build on the engine:
//   - Options.Hooks[component].BeforeApply runs inside the component's
//     stage first, on every up: before its first step is applied, or before
//     the health check when its digest is unchanged, so it must be
//     idempotent. Package platform uses it to server-side apply the Backstage
//     Secret (package secrets; render already put its checksum into the
//     pod template) right before the chart that consumes it.
//   - Options.Hooks[component].AfterReady runs once the component is Ready,
//     before its record says Applied (e.g. checking inside a container that
//     a secret arrived). An error fails the stage.
//   - Plan reports which components an up would apply, before applying.
package engine

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling"
	"github.com/fluxcd/pkg/ssa"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/neuroscale-dev/neuroscale/internal/render"
	"github.com/neuroscale-dev/neuroscale/internal/runlock"
	"github.com/neuroscale-dev/neuroscale/internal/state"
	apiextclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
)

// FieldManager is the server-side apply field manager for every object
// neuroscale applies.
const FieldManager = state.FieldManager

// Options configure an Engine.
type Options struct {
	// Log receives library and engine debug logs; nil discards them.
	Log *slog.Logger
	// Clock stamps records and paces every wait (poll); nil is the
	// system clock.
	Clock clock.Clock
	// StateNamespace holds the records (default neuroscale-system).
	StateNamespace string
	// Reapply applies every component even when its digest is unchanged,
	// for drift that the records cannot see (someone edited an object).
	Reapply bool
	// Samples are objects that admission webhooks intercept; before a
	// component's dependents start, each webhook it registers must answer a
	// server-side dry-run create of a sample matching its rules.
	Samples []*unstructured.Unstructured
	// Hooks run inside a component's stage, by component name.
	Hooks map[string]Hooks
	// MaxPoll is the longest pause between two readiness polls (default
	// 1s); polls start at 50ms and grow by half up to it (see poll).
	MaxPoll time.Duration
	// HelmMaxHistory bounds the revisions Helm keeps per release (default 5).
	HelmMaxHistory int
	// RunHolder is this run's identity in the lock on the cluster (package
	// runlock). A pending Helm release is taken for one an interrupted run
	// left only when no other live run holds the lock.
	RunHolder runlock.Holder
}

// Hooks are functions run inside a component's stage.
type Hooks struct {
	// BeforeApply runs first in the component's stage on every run: before
	// the first step is applied, or before the health check of an
	// unchanged component. It must be idempotent (server-side apply is).
	BeforeApply func(ctx context.Context, env HookEnv) error
	// AfterReady runs when every step is Ready, before the record is
	// written; its error fails the stage and the next up re-applies.
	AfterReady func(ctx context.Context, env HookEnv) error
}

// HookEnv is what a hook gets to work with.
type HookEnv struct {
	Component *render.Component
	REST      *rest.Config
	Kube      kubernetes.Interface
	Log       *slog.Logger
}

// Engine applies, checks and removes components in one cluster. Make one
// per command run: it caches the records it loaded.
type Engine struct {
	rest    *rest.Config
	opts    Options
	log     *slog.Logger
	clock   clock.Clock
	kube    kubernetes.Interface
	apiext  apiextclient.Interface
	dyn     dynamic.Interface
	meta    metadata.Interface
	client  client.Client
	mapper  meta.RESTMapper
	rm      *ssa.ResourceManager
	store   *state.Store
	profile string

	mu      sync.Mutex
	records map[string]*state.Record
	// unhealthy holds, by component, what lookAtHealth found wrong.
	unhealthy map[string]string
	// healthy holds, by component, lookAtHealth's observation of each
	// component it found whole: every release deployed at its recorded
	// revision and every object Current.
	healthy map[string]map[state.ObjectRef]observation
	// applying is set once this run starts applying any component: from
	// then on, what lookAtHealth saw may be out of date.
	applying bool
}

// New returns an engine for the cluster cfg reaches. It does not contact
// the cluster.
func New(cfg *rest.Config, opts Options) (*Engine, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.MaxPoll <= 0 {
		opts.MaxPoll = time.Second
	}
	if opts.HelmMaxHistory <= 0 {
		opts.HelmMaxHistory = 5
	}
	rc := rest.CopyConfig(cfg)
	// A full install sends about two thousand requests (dry-run and apply
	// per object, Helm, polls); at client-go's default 5 QPS, or even 50,
	// the client's own limiter would be the slowest part. The API server
	// protects itself with priority and fairness.
	if rc.QPS < 200 {
		rc.QPS, rc.Burst = 200, 400
	}
	rc.UserAgent = "neuroscale"
	httpClient, err := rest.HTTPClientFor(rc)
	if err != nil {
		return nil, fmt.Errorf("build http client: %w", err)
	}
	e := &Engine{rest: rc, opts: opts, log: opts.Log, clock: opts.Clock}
	if err := e.connect(httpClient); err != nil {
		return nil, err
	}
	e.store = state.NewStore(e.kube, opts.StateNamespace)
	return e, nil
}

func (e *Engine) connect(hc *http.Client) error {
	var err error
	if e.kube, err = kubernetes.NewForConfigAndClient(e.rest, hc); err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	if e.apiext, err = apiextclient.NewForConfigAndClient(e.rest, hc); err != nil {
		return fmt.Errorf("apiextensions client: %w", err)
	}
	if e.dyn, err = dynamic.NewForConfigAndClient(e.rest, hc); err != nil {
		return fmt.Errorf("dynamic client: %w", err)
	}
	if e.meta, err = metadata.NewForConfigAndClient(e.rest, hc); err != nil {
		return fmt.Errorf("metadata client: %w", err)
	}
	// The dynamic mapper discovers lazily and re-discovers a group on a
	// miss, so kinds whose CRDs an earlier stage installed resolve.
	if e.mapper, err = apiutil.NewDynamicRESTMapper(e.rest, hc); err != nil {
		return fmt.Errorf("rest mapper: %w", err)
	}
	if e.client, err = client.New(e.rest, client.Options{HTTPClient: hc, Mapper: e.mapper}); err != nil {
		return fmt.Errorf("controller-runtime client: %w", err)
	}
	poller := polling.NewStatusPoller(e.client, e.mapper, polling.Options{})
	e.rm = ssa.NewResourceManager(e.client, poller, ssa.Owner{Field: FieldManager, Group: "neuroscale.dev"})
	// Drift detection is one dry-run request per object; do several at once.
	e.rm.SetConcurrency(8)
	return nil
}

// Kube returns the engine's typed client.
func (e *Engine) Kube() kubernetes.Interface { return e.kube }

// REST returns the engine's client configuration.
func (e *Engine) REST() *rest.Config { return rest.CopyConfig(e.rest) }

// Store returns the record store.
func (e *Engine) Store() *state.Store { return e.store }

// Prepare makes sure the records' namespace exists, loads the records and
// looks once at the health of what they say was applied (see
// lookAtHealth); call it once before Plan and the stages. profile is
// recorded with every component applied in this run.
func (e *Engine) Prepare(ctx context.Context, profile string) error {
	if err := e.store.EnsureNamespace(ctx); err != nil {
		return &ClusterError{Op: "prepare the neuroscale-system namespace", Err: err}
	}
	if err := e.load(ctx, profile); err != nil {
		return err
	}
	if err := e.lookAtHealth(ctx); err != nil {
		return &ClusterError{Op: "look at the platform's health", Err: err}
	}
	return nil
}

func (e *Engine) load(ctx context.Context, profile string) error {
	recs, err := e.store.Load(ctx)
	if err != nil {
		return &ClusterError{Op: "read neuroscale's records", Err: err}
	}
	e.mu.Lock()
	e.records, e.profile = recs, profile
	e.mu.Unlock()
	return nil
}

// Record returns the loaded record of a component, or nil.
func (e *Engine) Record(name string) *state.Record {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.records[name]
}

// recordNamesLocked returns the recorded components' names, sorted; the
// caller holds e.mu.
func (e *Engine) recordNamesLocked() []string {
	names := make([]string, 0, len(e.records))
	for n := range e.records {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (e *Engine) setRecord(r *state.Record) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.records == nil {
		e.records = map[string]*state.Record{}
	}
	e.records[r.Component] = r
}

// saveRecord writes r if it differs from what the cluster holds, through
// the same transient failures as an apply (an API server restarting
// between the apply and its record must not fail the run).
func (e *Engine) saveRecord(ctx context.Context, r *state.Record) error {
	prev := e.Record(r.Component)
	if err := e.retryTransient(ctx, "record of "+r.Component, func(ctx context.Context) error {
		return e.store.Save(ctx, r, prev)
	}); err != nil {
		return err
	}
	e.setRecord(r)
	return nil
}

// Finish records the profile of a successful run.
func (e *Engine) Finish(ctx context.Context) error {
	return e.retryTransient(ctx, "platform record", func(ctx context.Context) error {
		return e.store.SavePlatform(ctx, &state.Platform{Profile: e.profile, AppliedAt: e.clock.Now().UTC()})
	})
}

// PlanEntry says what an up would do with one component.
type PlanEntry struct {
	Component string
	// Action is ActionInstall, ActionUpgrade (digest changed), ActionRepair
	// (last run unfinished, or unchanged but unhealthy now) or ActionCheck
	// (unchanged and healthy: health check only), decided as Converge
	// decides it.
	Action string
	// Reason says why, for a repair (and an upgrade forced by --reapply).
	Reason string
	// FromVersion and ToVersion are set for upgrades.
	FromVersion, ToVersion string
}

// Plan compares the rendered platform with the loaded records; call
// Prepare first. It changes nothing.
func (e *Engine) Plan(p *render.Platform) []PlanEntry {
	var out []PlanEntry
	for _, c := range p.Components {
		rec := e.Record(c.Name)
		pe := PlanEntry{Component: c.Name, ToVersion: c.Version}
		pe.Action, pe.Reason = e.plan(c, rec)
		if pe.Action == ActionRepair || pe.Action == ActionUpgrade {
			pe.FromVersion = rec.Version
		}
		out = append(out, pe)
	}
	return out
}

// ClusterError is a request to the cluster that failed outside any stage.
type ClusterError struct {
	Op  string
	Err error
}

// Error implements error.
func (e *ClusterError) Error() string { return e.Op + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *ClusterError) Unwrap() error { return e.Err }

// Hint implements the command layer's hint interface.
func (e *ClusterError) Hint() string {
	return "check that the cluster is reachable with this kubeconfig (kubectl get nodes) and that you may create namespaces and ConfigMaps"
}
