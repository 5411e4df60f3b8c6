package k3d

import (
	"log/slog"
	"os"
	"testing"

	"github.com/neuroscale-dev/neuroscale/internal/testcluster"
)

func TestMain(m *testing.M) {
	// k3d's global logger prints to stderr until a Provider routes it;
	// tests that call k3d directly would otherwise bury their output.
	routeK3dLog(slog.New(slog.DiscardHandler))
	// The test cluster starts only if a test asks for it (Traefik check).
	os.Exit(testcluster.Main(m))
}
