// Package forward supervises neuroscale's port-forwards: Backstage, ArgoCD
// and the demo predictor on 127.0.0.1, each to a ready pod behind its
// Service, through client-go's port-forward (websocket, SPDY as fallback).
//
// The seed platform's last failure was a kubectl port-forward that had
// died while the browser's cached UI still looked fine. So every forward
// here is probed through its tunnel, re-opened with backoff when the tunnel
// dies, its pod is replaced or the probe cannot reach the backend, and
// follows its Service's EndpointSlices by watch, so it is back within a
// moment of a ready pod existing. Every state change is reported as an
// Event as it happens.
package forward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/neuroscale-dev/neuroscale/internal/config"
)

// Defaults of Options.
const (
	DefaultProbeInterval  = time.Second
	DefaultProbeTimeout   = 2 * time.Second
	DefaultInitialBackoff = 50 * time.Millisecond
	DefaultMaxBackoff     = 15 * time.Second
	// DefaultBackendMaxBackoff caps the backoff when the tunnel opens but
	// the backend behind a ready pod does not answer (a restarting
	// process). Opening a tunnel then costs one request, and a user is
	// waiting for the forward: it must be back within about a second of
	// the backend, not up to 15.
	DefaultBackendMaxBackoff = time.Second
	DefaultResetAfter        = 10 * time.Second
	DefaultConnectWait       = 10 * time.Second
)

// Options configure a Supervisor. REST and Forwards are required.
type Options struct {
	// REST reaches the cluster.
	REST *rest.Config
	// Forwards to supervise (config.Resolved.Forwards). A LocalPort of 0
	// takes a free port; Status reports which.
	Forwards []config.Forward
	// Log receives debug detail (client-go's port-forward messages).
	Log *slog.Logger
	// OnEvent is called, one call at a time, for every state change; see
	// NewPrinter. It must not block; it may call Status.
	OnEvent func(Event)
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// ProbeInterval is the time between probes of a forward that is up.
	ProbeInterval time.Duration
	// ProbeTimeout bounds one probe.
	ProbeTimeout time.Duration
	// InitialBackoff and MaxBackoff bound the wait before re-opening a
	// tunnel that could not be opened; BackendMaxBackoff replaces
	// MaxBackoff when the tunnel opened but the backend did not answer.
	InitialBackoff, MaxBackoff, BackendMaxBackoff time.Duration
	// ResetAfter is how long a forward must stay up for its backoff to
	// start over.
	ResetAfter time.Duration
	// ConnectWait is how long a connection to the local port waits for a
	// tunnel while none is open.
	ConnectWait time.Duration
	// ProcRoot is where to look up the holder of a busy port; /proc when
	// empty.
	ProcRoot string
}

// Status is one forward's current state.
type Status struct {
	Forward config.Forward
	// URL is what a user opens; it names the bound port when LocalPort
	// was 0.
	URL    string
	State  State
	Pod    string
	Reason string
	// Err is the typed error of a blocked forward.
	Err error
}

// Supervisor runs the forwards.
type Supervisor struct {
	o  Options
	cs kubernetes.Interface

	mu      sync.Mutex
	status  []Status
	changed chan struct{}
	// evMu makes OnEvent calls one at a time.
	evMu sync.Mutex
}

// New checks o and returns a Supervisor; nothing runs until Run.
func New(o Options) (*Supervisor, error) {
	if o.REST == nil {
		return nil, errors.New("forward: no cluster configuration")
	}
	seen := map[string]bool{}
	for _, f := range o.Forwards {
		if f.Name == "" || f.Namespace == "" || f.Service == "" || f.RemotePort <= 0 || f.LocalPort < 0 {
			return nil, fmt.Errorf("forward %q: name, namespace, service and remotePort are required", f.Name)
		}
		if seen[f.Name] {
			return nil, fmt.Errorf("forward %q is defined twice", f.Name)
		}
		seen[f.Name] = true
	}
	setDefaults(&o)
	cs, err := kubernetes.NewForConfig(o.REST)
	if err != nil {
		return nil, fmt.Errorf("forward: kubernetes client: %w", err)
	}
	s := &Supervisor{o: o, cs: cs, changed: make(chan struct{})}
	for _, f := range o.Forwards {
		s.status = append(s.status, Status{Forward: f, URL: f.URL(), State: StateStarting})
	}
	return s, nil
}

func setDefaults(o *Options) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.OnEvent == nil {
		o.OnEvent = func(Event) {}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.ProbeInterval, DefaultProbeInterval)
	def(&o.ProbeTimeout, DefaultProbeTimeout)
	def(&o.InitialBackoff, DefaultInitialBackoff)
	def(&o.MaxBackoff, DefaultMaxBackoff)
	def(&o.BackendMaxBackoff, DefaultBackendMaxBackoff)
	def(&o.ResetAfter, DefaultResetAfter)
	def(&o.ConnectWait, DefaultConnectWait)
	if o.ProcRoot == "" {
		o.ProcRoot = "/proc"
	}
}

// Run supervises every forward until ctx is done, then closes them and
// returns nil.
func (s *Supervisor) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for i := range s.o.Forwards {
		w := &worker{s: s, i: i, f: s.o.Forwards[i], probe: NewProbeClient(s.o.ProbeTimeout)}
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(ctx)
		}()
	}
	wg.Wait()
	return nil
}

// Start runs the supervisor in the background until stop is called or
// ctx ends, for callers that do more while the forwards are up (up runs
// verify through them). stop closes the forwards and waits until their
// ports are released.
func (s *Supervisor) Start(ctx context.Context) (stop func()) {
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Run(rctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// Status returns every forward's current state, in configuration order.
func (s *Supervisor) Status() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Status(nil), s.status...)
}

// WaitUp waits until every forward is up and returns nil, or returns an
// error naming the forwards that are not up (and why) when ctx ends first.
func (s *Supervisor) WaitUp(ctx context.Context) error {
	for {
		s.mu.Lock()
		var notUp []string
		for _, st := range s.status {
			if st.State != StateUp {
				notUp = append(notUp, fmt.Sprintf("%s is %s", st.Forward.Name, strings.TrimSpace(string(st.State)+" "+st.Reason)))
			}
		}
		changed := s.changed
		s.mu.Unlock()
		if len(notUp) == 0 {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("forwards not up: %s: %w", strings.Join(notUp, "; "), ctx.Err())
		}
	}
}

// record stores st as forward i's status and reports ev when it should be
// shown (see worker.emit).
func (s *Supervisor) record(i int, st Status, ev *Event) {
	s.mu.Lock()
	s.status[i] = st
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	if ev != nil {
		// Outside mu, so the callback may ask for Status.
		s.evMu.Lock()
		defer s.evMu.Unlock()
		s.o.OnEvent(*ev)
	}
}

// PortInUseError says that a forward's local port is held by another
// process, and by which.
type PortInUseError struct {
	Forward string
	Addr    string
	// Holder is nil when no listening socket was found for the port.
	Holder *Holder
	// LookupErr is why the holder could not be looked up (no /proc).
	LookupErr error
}

// Error names the address and what holds it.
func (e *PortInUseError) Error() string {
	switch {
	case e.Holder != nil:
		return fmt.Sprintf("%s is already in use by %s", e.Addr, e.Holder)
	case e.LookupErr != nil:
		return fmt.Sprintf("%s is already in use; its holder could not be looked up: %v", e.Addr, e.LookupErr)
	}
	return fmt.Sprintf("%s is already in use, but no listening socket for it is in /proc/net/tcp (a process in another network namespace?)", e.Addr)
}

// Hint implements the CLI's hinter.
func (e *PortInUseError) Hint() string {
	stop := "stop the process holding it"
	if e.Holder != nil && e.Holder.PID > 0 {
		stop = fmt.Sprintf("stop pid %d (kill %d)", e.Holder.PID, e.Holder.PID)
	}
	return fmt.Sprintf("%s, or set another localPort for forward %q under forwards: in neuroscale.yaml; neuroscale retries the port meanwhile", stop, e.Forward)
}

// worker runs one forward.
type worker struct {
	s     *Supervisor
	i     int
	f     config.Forward
	probe *http.Client
	watch *serviceWatch
	relay *relay
	url   string

	// last is the last event shown, to keep retries from flooding output.
	last Event
	// downSince is when the forward stopped being up (zero while up).
	downSince time.Time
	everUp    bool
}

func (w *worker) emit(state State, pod, via, reason string, err error) {
	now := w.s.o.Now()
	ev := Event{Time: now, Forward: w.f.Name, URL: w.url, State: state, Pod: pod, Via: via, Reason: reason, Err: err}
	if state == StateUp {
		if !w.downSince.IsZero() && w.everUp {
			ev.Downtime = now.Sub(w.downSince)
		}
		w.downSince, w.everUp = time.Time{}, true
	} else if w.downSince.IsZero() {
		w.downSince = now
	}
	// A forward that stays down is shown once per outage: its first down
	// event says it is reconnecting, and the next one shown ends the
	// outage (up, unhealthy, waiting for a pod). The retries in between,
	// whatever their reason (a pod that serves nothing fails the same way
	// each second), go to the debug log only (-v).
	stillDown := state == StateDown && w.last.State == StateDown
	show := !stillDown && (state != w.last.State || (state == StateUp && pod != w.last.Pod) || reason != w.last.Reason)
	st := Status{Forward: w.f, URL: w.url, State: state, Pod: pod, Reason: reason, Err: err}
	if !show {
		w.s.o.Log.Debug("forward", "name", w.f.Name, "state", state, "reason", reason)
		w.s.record(w.i, st, nil)
		return
	}
	w.last = ev
	w.s.record(w.i, st, &ev)
}

func (w *worker) run(ctx context.Context) {
	w.url = w.f.URL()
	ln := w.bind(ctx)
	if ln == nil {
		w.emit(StateStopped, "", "", "", nil)
		return
	}
	if w.f.LocalPort == 0 {
		u := w.f
		u.LocalPort = ln.Addr().(*net.TCPAddr).Port
		w.url = u.URL()
	}
	if w.last.State == StateBlocked {
		w.emit(StateStarting, "", "", "the port is free now", nil)
	}
	w.relay = newRelay(ln, w.s.o.ConnectWait)
	w.watch = newServiceWatch(w.s.cs, w.f.Namespace, w.f.Service, w.f.RemotePort)
	var bg sync.WaitGroup
	bg.Add(2)
	go func() { defer bg.Done(); w.relay.serve(ctx) }()
	go func() { defer bg.Done(); w.watch.run(ctx) }()
	w.loop(ctx)
	bg.Wait()
	w.emit(StateStopped, "", "", "", nil)
}

// bind listens on the forward's local port on 127.0.0.1 only, retrying
// with backoff while another process holds it. It returns nil when ctx
// ends first.
func (w *worker) bind(ctx context.Context) net.Listener {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(w.f.LocalPort))
	bo := Backoff{Initial: 500 * time.Millisecond, Max: w.s.o.MaxBackoff}
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			return ln
		}
		reason := err.Error()
		var typed error = err
		if errors.Is(err, syscall.EADDRINUSE) {
			h, herr := FindHolder(w.s.o.ProcRoot, w.f.LocalPort)
			pe := &PortInUseError{Forward: w.f.Name, Addr: addr, Holder: h, LookupErr: herr}
			typed, reason = pe, pe.Error()
		}
		w.emit(StateBlocked, "", "", reason, typed)
		if !sleep(ctx, bo.Next(), nil) {
			return nil
		}
	}
}

// loop opens tunnels to the chosen pod until ctx is done.
func (w *worker) loop(ctx context.Context) {
	tunnelBO := Backoff{Initial: w.s.o.InitialBackoff, Max: w.s.o.MaxBackoff}
	backendBO := Backoff{Initial: w.s.o.InitialBackoff, Max: w.s.o.BackendMaxBackoff}
	for ctx.Err() == nil {
		target, reason, changed := w.watch.current()
		if target.Pod == "" {
			if reason != "" {
				w.emit(StateWaiting, "", "", reason, nil)
			}
			select {
			case <-changed:
			case <-ctx.Done():
			}
			continue
		}
		tun, err := openTunnel(ctx, w.s.o.REST, w.s.cs, w.f.Namespace, target.Pod, target.Port, w.s.o.Log)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			w.emit(StateDown, target.Pod, "", fmt.Sprintf("cannot open a tunnel to pod %s: %v; retrying", target.Pod, err), nil)
			if !w.wait(ctx, tunnelBO.Next(), target, &tunnelBO, &backendBO) {
				return
			}
			continue
		}
		tunnelBO.Reset()
		end := w.supervise(ctx, tun, target, changed)
		w.relay.set("")
		tun.close()
		if ctx.Err() != nil {
			return
		}
		if end.healthyFor >= w.s.o.ResetAfter {
			backendBO.Reset()
		}
		w.emit(StateDown, target.Pod, tun.via, end.reason+", reconnecting", nil)
		if end.podChanged {
			// A different pod is a fresh start, not a retry.
			backendBO.Reset()
			continue
		}
		if !w.wait(ctx, backendBO.Next(), target, &tunnelBO, &backendBO) {
			return
		}
	}
}

// wait sleeps for d, cut short (and the backoffs reset) when the watch
// chooses another pod than failed: a new ready pod deserves an attempt
// now. It returns false when ctx ends.
func (w *worker) wait(ctx context.Context, d time.Duration, failed Target, bos ...*Backoff) bool {
	deadline := time.Now().Add(d)
	for {
		target, _, changed := w.watch.current()
		if target != failed {
			for _, b := range bos {
				b.Reset()
			}
			return ctx.Err() == nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return ctx.Err() == nil
		}
		if !sleep(ctx, left, changed) {
			return false
		}
	}
}

// sleep waits for d, or until wake is closed; false when ctx ends.
func sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-wake:
		return true
	case <-ctx.Done():
		return false
	}
}

// tunnelEnd says why a tunnel was given up.
type tunnelEnd struct {
	reason     string
	podChanged bool
	healthyFor time.Duration
}

// supervise probes an open tunnel until it has to be re-opened.
func (w *worker) supervise(ctx context.Context, tun *tunnel, target Target, changed <-chan struct{}) tunnelEnd {
	var upSince time.Time
	healthy := func() time.Duration {
		if upSince.IsZero() {
			return 0
		}
		return w.s.o.Now().Sub(upSince)
	}
	tick := time.NewTicker(w.s.o.ProbeInterval)
	defer tick.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, w.s.o.ProbeTimeout)
		r := Probe(pctx, w.probe, w.f.Scheme, tun.addr, w.f.Probe)
		cancel()
		if ctx.Err() != nil {
			return tunnelEnd{healthyFor: healthy()}
		}
		switch {
		case r.Healthy:
			w.relay.set(tun.addr)
			if upSince.IsZero() {
				upSince = w.s.o.Now()
			}
			w.emit(StateUp, target.Pod, tun.via, r.Detail, nil)
		case r.Reached:
			// The application answers with an error status: the tunnel
			// is fine, re-opening it would only cut users' connections.
			w.relay.set(tun.addr)
			upSince = time.Time{}
			w.emit(StateUnhealthy, target.Pod, tun.via, "probe "+r.Detail, nil)
		default:
			select {
			case <-tun.done:
				return tunnelEnd{reason: tun.cause(), healthyFor: healthy()}
			default:
			}
			return tunnelEnd{reason: "probe failed: " + r.Detail, healthyFor: healthy()}
		}
		select {
		case <-ctx.Done():
			return tunnelEnd{healthyFor: healthy()}
		case <-tun.done:
			return tunnelEnd{reason: tun.cause(), healthyFor: healthy()}
		case <-changed:
			now, reason, next := w.watch.current()
			if now.Pod != target.Pod {
				return tunnelEnd{reason: podChange(target.Pod, now.Pod, reason), podChanged: true, healthyFor: healthy()}
			}
			changed = next
		case <-tick.C:
		}
	}
}

// podChange describes why the tunnel's pod is no longer the target.
func podChange(old, now, reason string) string {
	if now == "" {
		return fmt.Sprintf("pod %s is gone or not ready (%s)", old, reason)
	}
	return fmt.Sprintf("pod replaced (%s → %s)", old, now)
}
