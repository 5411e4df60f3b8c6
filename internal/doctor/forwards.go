package doctor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/forward"
)

// checkForwards tries each configured forward's local port: nothing
// listening means no forward runs; a listener whose probe fails is the
// seed's last failure, a dead forward behind a UI the browser still shows
// from its cache.
func checkForwards(ctx context.Context, e *env) ([]Finding, error) {
	client := forward.NewProbeClient(5 * time.Second)
	var out []Finding
	for _, f := range e.Config.Forwards {
		if fd, ok := e.forwardFinding(ctx, client, f); ok {
			out = append(out, fd)
		}
	}
	return out, nil
}

func (e *env) forwardFinding(ctx context.Context, client *http.Client, f config.Forward) (Finding, bool) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(f.LocalPort))
	obj := fmt.Sprintf("forward %s (%s → service %s/%s:%d)", f.Name, f.URL(), f.Namespace, f.Service, f.RemotePort)
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	conn, err := d.DialContext(dctx, "tcp", addr)
	cancel()
	if err != nil {
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return Finding{
				ID: IDForwardDead, Object: obj,
				Message:  "the forward's local port does not accept connections",
				Fix:      "restart neuroscale forward",
				Evidence: "connect " + addr + ": " + err.Error(),
			}, true
		}
		return Finding{
			ID: IDForwardAbsent, Object: obj,
			Message:  "no port-forward is running: the UI may still show from the browser's cache, but every API call fails",
			Fix:      "run neuroscale forward (neuroscale up runs it at its end unless --no-forward)",
			Evidence: "nothing listens on " + addr + " (connection refused); " + e.serviceState(ctx, f.Namespace, f.Service),
		}, true
	}
	_ = conn.Close()
	if f.Probe == "" {
		return Finding{}, false
	}
	holder, ours := "an unidentified process", false
	if h, err := forward.FindHolder(e.ProcRoot, f.LocalPort); err == nil && h != nil {
		holder, ours = h.String(), filepath.Base(h.Command) == "neuroscale"
	}
	r := forward.Probe(ctx, client, f.Scheme, addr, f.Probe)
	if r.Healthy {
		return Finding{}, false
	}
	ev := fmt.Sprintf("%s is held by %s, but %s; %s", addr, holder, r.Detail, e.serviceState(ctx, f.Namespace, f.Service))
	fd := Finding{
		ID: IDForwardDead, Object: obj,
		Message:  "something listens on the forward's port but the probe through it fails: a dead tunnel (kubectl port-forward does not recover) or an unhealthy backend",
		Fix:      "stop that process and run neuroscale forward, which re-opens dead tunnels by itself",
		Evidence: ev,
	}
	if ours {
		fd.Message = "neuroscale's forward holds the port but has no working tunnel: it keeps re-opening it, so the cause is behind the Service"
		fd.Fix = "neuroscale forward prints why the forward is down; fix the Service's pods (kubectl -n " + f.Namespace + " get pods)"
	}
	return fd, true
}

// serviceState says whether a forward's Service has pods to forward to,
// which is usually why a forward is dead.
func (e *env) serviceState(ctx context.Context, ns, name string) string {
	ready, total, err := e.readyEndpoints(ctx, ns, name)
	switch {
	case err != nil:
		return "Service " + ns + "/" + name + ": " + err.Error()
	case total < 0:
		return "Service " + ns + "/" + name + " does not exist"
	}
	return fmt.Sprintf("Service %s/%s has %d ready of %d endpoints", ns, name, ready, total)
}
