package engine

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/render"
	"github.com/neuroscale-dev/neuroscale/internal/state"
)

// Health is a component's health in `status`.
type Health string

// Healths.
const (
	HealthReady       Health = "Ready"
	HealthProgressing Health = "Progressing"
	HealthFailed      Health = "Failed"
	HealthAbsent      Health = "Absent"
)

// PlatformStatus is `neuroscale status -o json`.
type PlatformStatus struct {
	// Profile is the profile of the last finished up (the config's when
	// nothing was installed yet).
	Profile    string            `json:"profile"`
	Components []ComponentStatus `json:"components"`
}

// ComponentStatus is one component in `status`.
type ComponentStatus struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Profile string `json:"profile,omitempty"`
	Status  Health `json:"status"`
	// LastApplied is when the component was last applied (RFC 3339).
	LastApplied string `json:"lastApplied,omitempty"`
	// Endpoints are what a user opens, through `neuroscale forward`.
	Endpoints []Endpoint `json:"endpoints"`
	// Message says why the status is not Ready.
	Message string `json:"message,omitempty"`
}

// Endpoint is one URL a user opens.
type Endpoint struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	// Service is namespace/name of the Service it forwards to.
	Service string `json:"service"`
}

// Status reports every component in names (the enabled ones, in order)
// and any other component that has a record, without waiting: one look.
// forwards are matched to components by the Services they recorded.
func (e *Engine) Status(ctx context.Context, names []string, forwards []config.Forward, profile string) (*PlatformStatus, error) {
	if err := e.load(ctx, profile); err != nil {
		return nil, err
	}
	plat, err := e.store.LoadPlatform(ctx)
	if err != nil {
		return nil, &ClusterError{Op: "read neuroscale's records", Err: err}
	}
	out := &PlatformStatus{Profile: profile}
	if plat != nil && plat.Profile != "" {
		out.Profile = plat.Profile
	}
	all := append([]string(nil), names...)
	listed := map[string]bool{}
	for _, n := range names {
		listed[n] = true
	}
	e.mu.Lock()
	var extra []string
	for n := range e.records {
		if !listed[n] {
			extra = append(extra, n)
		}
	}
	e.mu.Unlock()
	sort.Strings(extra)
	all = append(all, extra...)

	out.Components = make([]ComponentStatus, len(all))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	var mu sync.Mutex
	for i, n := range all {
		g.Go(func() error {
			cs, err := e.componentStatus(gctx, n, forwards)
			if err != nil {
				return err
			}
			mu.Lock()
			out.Components[i] = cs
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

func (e *Engine) componentStatus(ctx context.Context, name string, forwards []config.Forward) (ComponentStatus, error) {
	cs := ComponentStatus{Name: name, Status: HealthAbsent, Endpoints: []Endpoint{}}
	rec := e.Record(name)
	if rec == nil {
		return cs, nil
	}
	cs.Version, cs.Profile = rec.Version, rec.Profile
	cs.LastApplied = rec.AppliedAt.UTC().Format(time.RFC3339)
	for _, f := range forwards {
		if e.forwardOwner(f) == name {
			cs.Endpoints = append(cs.Endpoints, Endpoint{Name: f.Name, URL: f.URL(), Service: f.Namespace + "/" + f.Service})
		}
	}
	cs.Status, cs.Message = e.health(ctx, rec)
	return cs, nil
}

// forwardOwner names the component a forward leads into: the one that
// applied its Service, else the one whose steps run in its namespace (the
// demo's predictor Service is made by KServe, not applied by neuroscale).
func (e *Engine) forwardOwner(f config.Forward) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	names := e.recordNamesLocked()
	for _, n := range names {
		for _, r := range e.records[n].Objects() {
			if r.Group == "" && r.Kind == "Service" && r.Namespace == f.Namespace && r.Name == f.Service {
				return n
			}
		}
	}
	for _, n := range names {
		for _, st := range e.records[n].Steps {
			if st.Namespace == f.Namespace {
				return n
			}
		}
	}
	return ""
}

// health is one look at a recorded component.
func (e *Engine) health(ctx context.Context, rec *state.Record) (Health, string) {
	if rec.Phase != state.Applied {
		return HealthProgressing, "the last up did not finish applying it; run neuroscale up"
	}
	for _, s := range rec.Steps {
		if s.Kind != string(render.StepChart) {
			continue
		}
		_, st, err := e.releaseHealth(ctx, s.Namespace, s.Release)
		if err != nil {
			return HealthFailed, err.Error()
		}
		switch st {
		case "deployed":
		case "":
			return HealthFailed, fmt.Sprintf("Helm release %s is missing", s.Release)
		case "pending-install", "pending-upgrade", "pending-rollback":
			return HealthProgressing, fmt.Sprintf("Helm release %s is %s", s.Release, st)
		default:
			return HealthFailed, fmt.Sprintf("Helm release %s is %s", s.Release, st)
		}
	}
	refs := rec.Objects()
	obs, err := e.observe(ctx, refs)
	if err != nil {
		return HealthFailed, err.Error()
	}
	var progressing string
	for _, r := range refs {
		o := obs[r]
		switch o.Status {
		case statusCurrent:
		case statusNotFound:
			return HealthFailed, fmt.Sprintf("%s is missing", r)
		case statusFailed:
			return HealthFailed, fmt.Sprintf("%s failed: %s", r, o.Message)
		default:
			if progressing == "" {
				progressing = fmt.Sprintf("%s is %s: %s", r, o.Status, o.Message)
			}
		}
	}
	if progressing != "" {
		return HealthProgressing, progressing
	}
	// Webhooks: endpoints only. A dry-run against a broken webhook can
	// take its whole timeout, and status must answer at once.
	namespaces, configs := map[string]bool{}, map[string]bool{}
	for _, r := range refs {
		if r.Group == "admissionregistration.k8s.io" {
			configs[r.Name] = true
		}
		if r.Group == "" && r.Kind == "Service" {
			namespaces[r.Namespace] = true
		}
	}
	hooks, err := e.webhooksFor(ctx, namespaces, configs)
	if err != nil {
		return HealthFailed, err.Error()
	}
	for _, w := range hooks {
		if w.Service == "" {
			continue
		}
		why, err := e.checkWebhookEndpoints(ctx, w)
		if err != nil {
			return HealthFailed, err.Error()
		}
		if why != "" {
			return HealthProgressing, fmt.Sprintf("admission webhook %s: %s", w.Name, why)
		}
	}
	return HealthReady, ""
}
