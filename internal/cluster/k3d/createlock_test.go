package k3d

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
)

// signalHandler closes warned on the first warning.
type signalHandler struct {
	slog.Handler
	warned chan struct{}
}

// Enabled lets every record through: the embedded discard handler would
// refuse them all, and the warning would never be seen.
func (h signalHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h signalHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		select {
		case <-h.warned:
		default:
			close(h.warned)
		}
	}
	return nil
}

// TestClusterLockMakesASecondRunWait: while one run holds the cluster's
// lock file, a second waits, saying so, and proceeds once it is released.
func TestClusterLockMakesASecondRunWait(t *testing.T) {
	t.Parallel()
	r := resolved(t, "dev")
	r.Cluster.Kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	first := New(r, nil, Options{})
	h := signalHandler{Handler: slog.DiscardHandler, warned: make(chan struct{})}
	second := New(r, slog.New(h), Options{})
	ctx := context.Background()
	unlock, err := first.lockCluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		u, err := second.lockCluster(ctx)
		if err == nil {
			u()
		}
		got <- err
	}()
	select {
	case <-h.warned:
	case err := <-got:
		t.Fatalf("the second run took the lock while the first held it (err %v)", err)
	}
	unlock()
	if err := <-got; err != nil {
		t.Fatalf("the second run did not get the lock after the first released it: %v", err)
	}

	// A cancelled wait returns the context's error.
	unlock, err = first.lockCluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := second.lockCluster(cctx); err == nil {
		t.Fatal("a cancelled wait got the lock")
	}
}
