package preflight

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/neuroscale-dev/neuroscale/internal/diag"
	"k8s.io/apimachinery/pkg/util/version"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"

	"github.com/neuroscale-dev/neuroscale/internal/cluster"
	"github.com/neuroscale-dev/neuroscale/internal/config"
)

// MinKubernetes is the oldest Kubernetes the platform installs on: the
// strictest kubeVersion the pinned charts declare (Argo CD's and
// Kyverno's ">=1.25.0-0").
const MinKubernetes = "1.25.0"

// ServerVersion asks the API server behind cfg for its version.
func ServerVersion(ctx context.Context, cfg *rest.Config) (*version.Version, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	// ServerVersion takes no context; the REST client's timeout (set by
	// the caller) and this check bound it.
	type answer struct {
		v   string
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		info, err := dc.ServerVersion()
		if err != nil {
			ch <- answer{err: err}
			return
		}
		ch <- answer{v: info.GitVersion}
	}()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case a := <-ch:
		if a.err != nil {
			return nil, a.err
		}
		return version.ParseGeneric(a.v)
	}
}

// checkExisting checks, for provider existing, that the kubeconfig
// reaches a cluster and that its Kubernetes is recent enough.
func checkExisting(ctx context.Context, r *config.Resolved) []Problem {
	where := "the kubeconfig's current context"
	if r.Cluster.Context != "" {
		where = "context " + r.Cluster.Context
	}
	fix := "point --kubeconfig and --context (cluster.kubeconfig, cluster.context) at a running cluster, or use cluster.provider: k3d"
	acc, err := cluster.LoadAccess(r.Cluster.Kubeconfig, r.Cluster.Context)
	if err != nil {
		return []Problem{{Severity: diag.Error, ID: "cluster", Message: fmt.Sprintf("cannot use %s: %v", where, err), Fix: fix}}
	}
	// The same short "cluster unreachable" every command says.
	if err := cluster.Probe(ctx, acc); err != nil {
		var ue *cluster.UnreachableError
		if errors.As(err, &ue) {
			return []Problem{{Severity: diag.Error, ID: "cluster", Message: ue.Error(), Fix: ue.Hint()}}
		}
		return []Problem{{Severity: diag.Error, ID: "cluster", Message: err.Error(), Fix: fix}}
	}
	cfg := rest.CopyConfig(acc.REST)
	if cfg.Timeout == 0 {
		cfg.Timeout = clusterTimeout
	}
	v, err := ServerVersion(ctx, cfg)
	if err != nil {
		return []Problem{{Severity: diag.Error, ID: "cluster", Message: fmt.Sprintf("the cluster of %s (%s) does not answer: %s", where, acc.REST.Host, firstLine(err.Error())), Fix: fix}}
	}
	if v.LessThan(version.MustParseGeneric(MinKubernetes)) {
		return []Problem{{
			ID: "version", Severity: diag.Error,
			Message: fmt.Sprintf("the cluster of %s runs Kubernetes %s; the platform needs %s or newer", where, v, MinKubernetes),
			Fix:     "upgrade the cluster, or use cluster.provider: k3d, which runs a recent k3s",
		}}
	}
	return nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
