package testcluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Restart stops one process of the cluster ("kube-apiserver", "etcd",
// "kwok", "kube-controller-manager", "kube-scheduler" or "sim") and returns
// once its supervisor has started it again, with the same flags and ports,
// down after it went down, and it serves. Fault tests use it to play an
// API server restart or a node outage.
func (c *Cluster) Restart(ctx context.Context, component string, down time.Duration) error {
	if _, err := runScript(ctx, c.root, "restart", c.Dir, component, fmt.Sprintf("--down=%dms", down.Milliseconds())); err != nil {
		return fmt.Errorf("restart %s: %w", component, err)
	}
	return nil
}

// keepLogs is what a failed start leaves behind: the cluster's logs, so
// the failure can be read, and nothing else of a temporary directory.
func keepLogs(dir string, temporary bool, err error) error {
	if temporary && os.Getenv(EnvKeep) == "" {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if e.Name() != "logs" {
				_ = os.RemoveAll(filepath.Join(dir, e.Name()))
			}
		}
	}
	return fmt.Errorf("%w\nthe logs of every process are kept in %s", err, filepath.Join(dir, "logs"))
}
