package testcluster

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// shared is the one cluster of the test package. It is the only package
// state: TestMain starts nothing itself, Get starts the cluster on first
// use, and Main stops it after the tests.
var shared struct {
	once    sync.Once
	opts    []Option
	cluster *Cluster
	skip    string
	err     error
}

// StartTimeout bounds the start of the shared cluster, build included: a
// cold build takes about 7 minutes on 2 cores.
const StartTimeout = 15 * time.Minute

// Main runs the tests of a package that uses the shared cluster and stops
// that cluster afterwards, whatever the tests did; a test binary that
// panics is covered by the cluster's supervisor instead. Call it from
// TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testcluster.Main(m, testcluster.WithWebhooks(false))) }
//
// opts apply to the shared cluster, which is started by the first Get.
func Main(m *testing.M, opts ...Option) int {
	shared.opts = opts
	code := m.Run()
	if c := shared.cluster; c != nil {
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "testcluster:", err)
			if code == 0 {
				code = 1
			}
		}
		if os.Getenv(EnvKeep) != "" {
			fmt.Fprintln(os.Stderr, "testcluster: kept", c.Dir)
		}
	}
	return code
}

// Get returns the package's shared cluster, starting it on first use. It
// skips t only when the cluster cannot be built on this machine (no Go
// toolchain, bash or flock) or in -short mode; a failed start fails t.
func Get(t testing.TB) *Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("testcluster: integration test skipped in -short mode")
	}
	shared.once.Do(func() {
		if shared.skip = CanBuild(); shared.skip != "" {
			return
		}
		var o options
		for _, opt := range shared.opts {
			opt(&o)
		}
		if shared.skip = CanRunReal(o.real...); shared.skip != "" {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
		defer cancel()
		shared.cluster, shared.err = Start(ctx, shared.opts...)
	})
	if shared.skip != "" {
		t.Skip("testcluster: " + shared.skip)
	}
	if shared.err != nil {
		t.Fatalf("testcluster: %v", shared.err)
	}
	return shared.cluster
}
