package forward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"

	"github.com/go-logr/logr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/klog/v2"
	streamhttp "k8s.io/streaming/pkg/httpstream"

	"github.com/neuroscale-dev/neuroscale/internal/logging"
)

// Transports over which a tunnel can run.
const (
	viaWebsocket = "websocket"
	viaSPDY      = "spdy"
)

// tunnel is one client-go port-forward to one pod, listening on an
// ephemeral port of 127.0.0.1. The user-facing port belongs to the relay,
// which outlives tunnels; that way the port stays ours while a tunnel is
// re-opened, and a connection made meanwhile waits instead of failing.
type tunnel struct {
	addr string
	via  string
	done chan struct{}
	// err is why the tunnel ended; read it after done is closed.
	err    error
	cancel context.CancelFunc
	log    *errorLog
}

// openTunnel opens a port-forward to port of pod ns/pod and returns once it
// listens. It tries the websocket protocol first and falls back to SPDY
// when the API server (or a proxy) cannot upgrade to it, as kubectl does.
func openTunnel(ctx context.Context, cfg *rest.Config, cs kubernetes.Interface, ns, pod string, port int, log *slog.Logger) (*tunnel, error) {
	url := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("portforward").URL()
	transport, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("spdy transport: %w", err)
	}
	elog := &errorLog{log: log}
	logger := logr.New(elog)
	t := &tunnel{done: make(chan struct{}), log: elog}
	spdyDialer := &recordingDialer{Dialer: spdy.NewDialerForStreaming(upgrader, &http.Client{Transport: transport}, http.MethodPost, url), name: viaSPDY, used: &t.via}
	wsDialer, err := portforward.NewSPDYOverWebsocketDialerForStreamingWithLogger(logger, url, cfg)
	if err != nil {
		return nil, fmt.Errorf("websocket transport: %w", err)
	}
	dialer := portforward.NewFallbackDialerForStreaming(&recordingDialer{Dialer: wsDialer, name: viaWebsocket, used: &t.via}, spdyDialer, func(err error) bool {
		return streamhttp.IsUpgradeFailure(err) || streamhttp.IsHTTPSProxyError(err)
	})
	tctx, cancel := context.WithCancel(klog.NewContext(ctx, logger))
	t.cancel = cancel
	ready := make(chan struct{})
	pf, err := portforward.NewOnAddressesForStreamingWithContext(tctx, dialer, []string{"127.0.0.1"}, []string{"0:" + strconv.Itoa(port)}, ready, io.Discard, io.Discard)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("port-forward: %w", err)
	}
	go func() {
		err := pf.ForwardPorts()
		if err == nil && tctx.Err() == nil {
			err = errors.New("port-forward ended")
		}
		t.err = err
		close(t.done)
	}()
	select {
	case <-ready:
	case <-t.done:
		cancel()
		return nil, t.err
	case <-ctx.Done():
		cancel()
		return nil, ctx.Err()
	}
	ports, err := pf.GetPorts()
	if err != nil || len(ports) == 0 {
		cancel()
		return nil, fmt.Errorf("port-forward listens on no port: %w", err)
	}
	t.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(int(ports[0].Local)))
	return t, nil
}

// close stops the tunnel and waits until its listener is closed.
func (t *tunnel) close() {
	t.cancel()
	<-t.done
}

// cause says why the tunnel ended, with the last error the port-forward
// reported on a connection (the remote side refusing, usually), which
// client-go only logs.
func (t *tunnel) cause() string {
	msg := "tunnel closed"
	if t.err != nil {
		msg += ": " + t.err.Error()
	}
	if last := t.log.last(); last != "" {
		msg += " (" + last + ")"
	}
	return msg
}

// recordingDialer notes which transport a tunnel ended up on, for the "up"
// message.
type recordingDialer struct {
	streamhttp.Dialer
	name string
	used *string
}

// Dial dials and, on success, records the transport.
func (d *recordingDialer) Dial(protocols ...string) (streamhttp.Connection, string, error) {
	c, p, err := d.Dialer.Dial(protocols...)
	if err == nil {
		*d.used = d.name
	}
	return c, p, err
}

// errorLog is the logr sink client-go's port-forward logs to: everything
// goes to neuroscale's logger at debug level (the supervisor prints state
// changes itself), and the last error is kept to explain a closed tunnel.
type errorLog struct {
	log    *slog.Logger
	name   string
	values []any

	mu      *sync.Mutex
	lastErr *string
}

func (l *errorLog) last() string {
	if l.mu == nil {
		return ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return *l.lastErr
}

// Init implements logr.LogSink.
func (l *errorLog) Init(logr.RuntimeInfo) {
	if l.mu == nil {
		l.mu, l.lastErr = &sync.Mutex{}, new(string)
	}
}

// Enabled implements logr.LogSink: debug lines with -v, but none above
// logging.MaxLibraryV, where the port-forward logs the bytes it carries
// (a sign-in's token among them).
func (l *errorLog) Enabled(level int) bool {
	return level <= logging.MaxLibraryV && l.log.Enabled(context.Background(), slog.LevelDebug)
}

// Info implements logr.LogSink; logr calls it only when Enabled(level).
func (l *errorLog) Info(_ int, msg string, kv ...any) {
	l.log.Debug(msg, append(append([]any{"lib", "portforward", "logger", l.name}, l.values...), kv...)...)
}

// Error implements logr.LogSink.
func (l *errorLog) Error(err error, msg string, kv ...any) {
	if l.mu != nil && err != nil {
		l.mu.Lock()
		*l.lastErr = err.Error()
		l.mu.Unlock()
	}
	l.log.Debug(msg, append(append([]any{"lib", "portforward", "logger", l.name, "err", err}, l.values...), kv...)...)
}

// WithValues implements logr.LogSink.
func (l *errorLog) WithValues(kv ...any) logr.LogSink {
	c := *l
	c.values = append(append([]any(nil), l.values...), kv...)
	return &c
}

// WithName implements logr.LogSink.
func (l *errorLog) WithName(name string) logr.LogSink {
	c := *l
	if c.name != "" {
		name = c.name + "/" + name
	}
	c.name = name
	return &c
}
