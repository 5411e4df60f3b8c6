package k3d

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"
)

// lockCluster takes an exclusive lock on a file beside the kubeconfig,
// named after the cluster, for as long as Ensure creates, starts or
// reuses it: two `up` runs on one machine would otherwise both create the
// cluster, and one would fail halfway. The second run waits, saying why,
// and then finds the cluster and reuses it. The lock is the kernel's
// (flock), so it goes away with a killed process.
func (p *Provider) lockCluster(ctx context.Context) (unlock func(), err error) {
	path := filepath.Join(filepath.Dir(p.Kubeconfig()), ".neuroscale-k3d-"+p.r.Cluster.Name+".lock")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("lock directory: %w", err)
	}
	fl := flock.New(path)
	ok, err := fl.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if !ok {
		p.log.Warn("another neuroscale run is creating or starting this cluster; waiting for it", "cluster", p.r.Cluster.Name, "lock", path)
		if ok, err = fl.TryLockContext(ctx, 500*time.Millisecond); !ok {
			if err == nil {
				err = ctx.Err()
			}
			return nil, fmt.Errorf("waiting for the lock %s on k3d cluster %s: %w", path, p.r.Cluster.Name, err)
		}
	}
	return func() { _ = fl.Unlock() }, nil
}
