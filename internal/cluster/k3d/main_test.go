package k3d

import (
	"log/slog"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	// k3d's global logger prints to stderr until a Provider routes it;
	// tests that call k3d directly would otherwise bury their output.
	routeK3dLog(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}
