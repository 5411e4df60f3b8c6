package verify

import (
	"fmt"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/content"
	"github.com/neuroscale-dev/neuroscale/internal/forward"
)

// BackstageForward and PredictorForward return the forwards verify's
// requests go through, found by the Service they lead to (so a renamed
// forward still counts), or nil when none is configured.
func BackstageForward(r *config.Resolved) *config.Forward {
	return forwardTo(r, content.BackstageNamespace, content.BackstageRelease)
}

// PredictorForward returns the forward to the demo model's predictor.
func PredictorForward(r *config.Resolved) *config.Forward {
	return forwardTo(r, content.DemoNamespace, content.DemoName+"-predictor")
}

func forwardTo(r *config.Resolved, ns, svc string) *config.Forward {
	for i := range r.Forwards {
		if f := &r.Forwards[i]; f.Namespace == ns && f.Service == svc {
			return f
		}
	}
	return nil
}

// ForPlatform returns the Options for the platform configured in r,
// reached through cfg, with the forwards' endpoints (from forward.Reach,
// or a running supervisor's Endpoints).
func ForPlatform(r *config.Resolved, cfg *rest.Config, eps []forward.Endpoint) (Options, error) {
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return Options{}, fmt.Errorf("kubernetes client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return Options{}, fmt.Errorf("dynamic client: %w", err)
	}
	o := Options{Kube: kube, Dynamic: dyn, GitOps: r.GitOps != nil, SignIn: r.Backstage.Auth, Names: DefaultNames()}
	o.BackstageURL, o.BackstageErr = endpoint(eps, BackstageForward(r), "Backstage")
	o.PredictorURL, o.PredictorErr = endpoint(eps, PredictorForward(r), "the demo predictor")
	return o, nil
}

func endpoint(eps []forward.Endpoint, f *config.Forward, what string) (string, error) {
	if f == nil {
		return "", fmt.Errorf("no forward to %s is configured (forwards: in neuroscale.yaml)", what)
	}
	for _, ep := range eps {
		if ep.Name == f.Name {
			return ep.URL, ep.Err
		}
	}
	return "", fmt.Errorf("forward %s was not opened", f.Name)
}
