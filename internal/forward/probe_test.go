package forward

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/neuroscale-dev/neuroscale/internal/porttest"
)

func TestProbe(t *testing.T) {
	t.Parallel()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/down" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	plain := httptest.NewServer(ok)
	t.Cleanup(plain.Close)
	tlsSrv := httptest.NewTLSServer(ok)
	t.Cleanup(tlsSrv.Close)
	// Below the ephemeral range, so no parallel test's server takes it.
	deadAddr := fmt.Sprintf("127.0.0.1:%d", porttest.Free(t))
	addr := func(s *httptest.Server) string { return s.Listener.Addr().String() }
	tests := []struct {
		name, scheme, addr, path string
		reached, healthy         bool
		detail                   string
	}{
		{"http ok", "http", addr(plain), "/healthz", true, true, "GET /healthz: 200"},
		{"unhealthy answer", "http", addr(plain), "/down", true, false, "GET /down: 503"},
		{"self-signed https accepted", "https", addr(tlsSrv), "/healthz", true, true, "GET /healthz: 200"},
		{"https to a plain backend is reached, not dead", "https", addr(plain), "/healthz", true, false, "does not speak TLS"},
		{"nothing listening", "http", deadAddr, "/healthz", false, false, "connection refused"},
		{"no path: connect only", "", addr(plain), "", true, true, "connect ok"},
	}
	c := NewProbeClient(2 * time.Second)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := Probe(context.Background(), c, tt.scheme, tt.addr, tt.path)
			if r.Reached != tt.reached || r.Healthy != tt.healthy || !strings.Contains(r.Detail, tt.detail) {
				t.Errorf("got %+v, want reached=%v healthy=%v detail containing %q", r, tt.reached, tt.healthy, tt.detail)
			}
		})
	}
}
