// Package cluster gives neuroscale a cluster to install into: an existing
// one reached through a kubeconfig, or (package cluster/k3d) a local k3d
// cluster it creates. Everything after this point is provider-agnostic.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/neuroscale-dev/neuroscale/internal/config"
)

// Access is how to reach a cluster.
type Access struct {
	// Kubeconfig is the file the user can point kubectl at ("" means the
	// default loading rules).
	Kubeconfig string
	// Context is the kubeconfig context in use.
	Context string
	// REST is the client configuration built from them.
	REST *rest.Config
}

// Provider creates or finds the cluster.
type Provider interface {
	// Name is "k3d" or "existing".
	Name() string
	// Ensure returns access to a running cluster, creating or starting it
	// when the provider owns clusters.
	Ensure(ctx context.Context) (*Access, error)
	// Delete removes the cluster when the provider owns it; purge also
	// removes caches that outlive it. Deleting a missing cluster is no error.
	Delete(ctx context.Context, purge bool) error
}

// Existing is the provider for a cluster neuroscale did not create.
type Existing struct {
	Kubeconfig string
	Context    string
}

// NewExisting returns the existing-cluster provider for r.
func NewExisting(r *config.Resolved) *Existing {
	return &Existing{Kubeconfig: r.Cluster.Kubeconfig, Context: r.Cluster.Context}
}

// Name implements Provider.
func (e *Existing) Name() string { return config.ProviderExisting }

// Ensure loads the kubeconfig; it does not contact the cluster.
func (e *Existing) Ensure(context.Context) (*Access, error) {
	return LoadAccess(e.Kubeconfig, e.Context)
}

// Delete does nothing: neuroscale never deletes a cluster it did not create.
func (e *Existing) Delete(context.Context, bool) error { return nil }

// KubeconfigError is a kubeconfig that is missing or does not name a
// usable context: nothing was asked of any cluster yet.
type KubeconfigError struct{ Err error }

// Error implements error.
func (e *KubeconfigError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *KubeconfigError) Unwrap() error { return e.Err }

// Hint says what to do next.
func (e *KubeconfigError) Hint() string {
	return "point --kubeconfig (and --context) at the cluster, or run neuroscale up to create a k3d one"
}

// LoadAccess builds Access from a kubeconfig path (or the default loading
// rules when empty) and an optional context.
func LoadAccess(kubeconfig, kubeContext string) (*Access, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		if _, err := os.Stat(kubeconfig); err != nil {
			return nil, &KubeconfigError{Err: fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)}
		}
		rules.ExplicitPath = kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext})
	rc, err := cc.ClientConfig()
	if clientcmd.IsEmptyConfig(err) {
		return nil, &KubeconfigError{Err: errors.New("no kubeconfig: --kubeconfig, cluster.kubeconfig and KUBECONFIG are unset and ~/.kube/config does not exist")}
	}
	if err != nil {
		return nil, &KubeconfigError{Err: fmt.Errorf("load kubeconfig: %w", err)}
	}
	raw, err := cc.RawConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	ctxName := kubeContext
	if ctxName == "" {
		ctxName = raw.CurrentContext
	}
	// The defaults (5 QPS) make a full install crawl; the API server
	// protects itself with priority and fairness.
	rc.QPS, rc.Burst = 50, 100
	return &Access{Kubeconfig: kubeconfig, Context: ctxName, REST: rc}, nil
}
