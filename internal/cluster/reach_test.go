package cluster

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
)

// closedAddr returns 127.0.0.1:PORT of a listener that was opened and
// closed, so nothing answers there.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func TestProbe(t *testing.T) {
	t.Parallel()
	version := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/version" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(`{"major":"1","minor":"36"}`))
	}))
	t.Cleanup(version.Close)
	denied := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Unauthorized","code":401}`))
	}))
	t.Cleanup(denied.Close)
	forbidden := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusForbidden)
	}))
	t.Cleanup(forbidden.Close)
	closed := "https://" + closedAddr(t)

	for _, tc := range []struct {
		name, host string
		reason     string // "" means reachable
	}{
		{"answers", version.URL, ""},
		{"forbidden is reachable", forbidden.URL, ""},
		{"closed port", closed, "connection refused"},
		{"credentials rejected", denied.URL, "credentials rejected (401)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := Probe(context.Background(), &Access{Context: "ctx", REST: &rest.Config{Host: tc.host}})
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("Probe = %v, want reachable", err)
				}
				return
			}
			var ue *UnreachableError
			if !errors.As(err, &ue) {
				t.Fatalf("Probe = %v, want *UnreachableError", err)
			}
			if ue.Reason != tc.reason {
				t.Errorf("reason %q, want %q", ue.Reason, tc.reason)
			}
			want := "cluster unreachable: " + tc.host + " (context ctx): " + tc.reason
			if ue.Error() != want {
				t.Errorf("error %q, want %q", ue.Error(), want)
			}
			if !strings.Contains(ue.Hint(), "--kubeconfig") {
				t.Errorf("hint %q does not say how to point at another cluster", ue.Hint())
			}
		})
	}
}

func TestProbeCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Probe(ctx, &Access{REST: &rest.Config{Host: "https://" + closedAddr(t)}})
	var ue *UnreachableError
	if errors.As(err, &ue) || !errors.Is(err, context.Canceled) {
		t.Errorf("Probe after Ctrl-C = %v, want context.Canceled and no blame on the cluster", err)
	}
}
