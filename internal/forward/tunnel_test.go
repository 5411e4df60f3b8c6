package forward

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/go-logr/logr"
)

// TestTunnelLogKeepsWireBytesOut: with -v, the port-forward's debug lines
// reach the log but the bytes it carries (logged at V(7): a sign-in's
// token through the forward among them) do not; its errors are kept for
// the supervisor either way.
func TestTunnelLogKeepsWireBytesOut(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	elog := &errorLog{log: slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	logger := logr.New(elog).WithName("client")
	logger.Info("Negotiation complete")
	logger.V(7).Info("Tunneling connection write", "data", "Bearer secret-token")
	logger.Error(nil, "lost connection to pod")
	got := out.String()
	if !strings.Contains(got, "Negotiation complete") || !strings.Contains(got, "lost connection to pod") {
		t.Errorf("debug and error lines missing with -v:\n%s", got)
	}
	if strings.Contains(got, "secret-token") {
		t.Errorf("the forward's bytes reached the log:\n%s", got)
	}
}
