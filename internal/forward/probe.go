package forward

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// ProbeResult is what one health probe through a tunnel found.
type ProbeResult struct {
	// Reached is true when the backend answered at all (any HTTP status):
	// the tunnel works even if the application is unhealthy.
	Reached bool
	// Healthy is true for a 2xx or 3xx answer.
	Healthy bool
	// Detail is the request and its outcome: "GET /healthz: 200".
	Detail string
}

// NewProbeClient returns the HTTP client probes use. It never reuses a
// connection, so every probe opens a fresh stream through the tunnel, the
// way a browser's next request would; it accepts any certificate because
// what is probed is the tunnel (ArgoCD serves a self-signed one).
func NewProbeClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			Proxy:             nil,
			DialContext:       (&net.Dialer{Timeout: timeout}).DialContext,
			// #nosec G402 -- a loopback tunnel to a self-signed in-cluster endpoint.
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Probe GETs path over scheme from addr (a tunnel's local end) with a
// client from NewProbeClient. An empty path checks only that addr accepts
// connections.
func Probe(ctx context.Context, c *http.Client, scheme, addr, path string) ProbeResult {
	if path == "" {
		d := net.Dialer{Timeout: c.Timeout}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return ProbeResult{Detail: err.Error()}
		}
		_ = conn.Close()
		return ProbeResult{Reached: true, Healthy: true, Detail: "connect ok"}
	}
	if scheme == "" {
		scheme = "http"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+addr+path, nil)
	if err != nil {
		return ProbeResult{Detail: err.Error()}
	}
	resp, err := c.Do(req)
	switch {
	case err != nil && strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		// The backend answered, in plain HTTP (net/http reports it only
		// as this text): the tunnel works and re-opening it would not help.
		return ProbeResult{Reached: true, Detail: fmt.Sprintf("GET %s: the backend does not speak TLS (set scheme: http for this forward)", path)}
	case err != nil:
		return ProbeResult{Detail: fmt.Sprintf("GET %s: %v", path, err)}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	ok := resp.StatusCode >= 200 && resp.StatusCode < 400
	return ProbeResult{Reached: true, Healthy: ok, Detail: fmt.Sprintf("GET %s: %d", path, resp.StatusCode)}
}
