package forward

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// relay owns the user-facing listener of one forward for the supervisor's
// whole life and splices each accepted connection to the current tunnel.
// Holding the port across tunnel restarts means no other process can take
// it in between, and a request made while a tunnel is being re-opened
// waits up to wait for it instead of being refused.
type relay struct {
	ln   net.Listener
	wait time.Duration

	mu      sync.Mutex
	backend string
	changed chan struct{}
	conns   sync.WaitGroup
}

func newRelay(ln net.Listener, wait time.Duration) *relay {
	return &relay{ln: ln, wait: wait, changed: make(chan struct{})}
}

// set points new connections at addr ("" while there is no tunnel).
func (r *relay) set(addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if addr == r.backend {
		return
	}
	r.backend = addr
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *relay) current() (string, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.backend, r.changed
}

// serve accepts until ctx is done, then closes the listener and waits for
// the connections it is relaying.
func (r *relay) serve(ctx context.Context) {
	go func() {
		<-ctx.Done()
		_ = r.ln.Close()
	}()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				break
			}
			// A transient accept error (too many open files): back off
			// briefly rather than spin.
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		r.conns.Add(1)
		go func() {
			defer r.conns.Done()
			r.handle(ctx, c)
		}()
	}
	r.conns.Wait()
}

func (r *relay) handle(ctx context.Context, c net.Conn) {
	defer c.Close()
	deadline := time.NewTimer(r.wait)
	defer deadline.Stop()
	for {
		addr, changed := r.current()
		if addr != "" {
			var d net.Dialer
			b, err := d.DialContext(ctx, "tcp", addr)
			if err == nil {
				splice(ctx, c, b)
				return
			}
			// The tunnel just went away; wait for the next one.
		}
		select {
		case <-changed:
		case <-deadline.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// splice copies between the client c and the backend b. When the backend
// side ends (it answered and closed, or the tunnel died) both are closed at
// once, so the client sees the end and retries; when the client stops
// sending first, the backend gets a while to finish its answer.
func splice(ctx context.Context, c, b net.Conn) {
	fromBackend := make(chan struct{})
	fromClient := make(chan struct{})
	go func() {
		_, _ = io.Copy(c, b)
		close(fromBackend)
	}()
	go func() {
		_, _ = io.Copy(b, c)
		if tc, ok := b.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		close(fromClient)
	}()
	select {
	case <-fromBackend:
	case <-fromClient:
		select {
		case <-fromBackend:
		case <-time.After(drainGrace):
		case <-ctx.Done():
		}
	case <-ctx.Done():
	}
	_ = c.Close()
	_ = b.Close()
}

// drainGrace is how long a backend may still answer after the client
// stopped sending.
const drainGrace = 30 * time.Second
