package forward

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"
)

// Endpoint is where one forward can be reached for a one-off check.
type Endpoint struct {
	// Name is the forward's name.
	Name string
	// URL is the base URL to use; empty when the forward could not be
	// reached (see Err).
	URL string
	// Shared is true when URL is the configured local port, already served
	// by another neuroscale (forward or up) or by whatever listens there.
	Shared bool
	Err    error
}

// Reach makes o.Forwards reachable for checks such as verify and doctor.
// A forward whose configured local port already answers its probe is used
// as it is, so a `neuroscale forward` running in another terminal is
// shared rather than fought over; the others get a supervised forward on a
// free port for as long as the caller needs them. Reach waits up to wait
// for those to come up. stop closes what Reach opened; call it once done.
func Reach(ctx context.Context, o Options, wait time.Duration) (eps []Endpoint, stop func(), err error) {
	setDefaults(&o)
	client := NewProbeClient(o.ProbeTimeout)
	own := o
	own.Forwards = nil
	var ownIdx []int
	for _, f := range o.Forwards {
		eps = append(eps, Endpoint{Name: f.Name})
		i := len(eps) - 1
		if f.LocalPort > 0 {
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(f.LocalPort))
			pctx, cancel := context.WithTimeout(ctx, o.ProbeTimeout)
			r := Probe(pctx, client, f.Scheme, addr, f.Probe)
			cancel()
			if r.Reached && f.Probe != "" {
				eps[i].URL, eps[i].Shared = f.URL(), true
				continue
			}
		}
		f.LocalPort = 0
		own.Forwards = append(own.Forwards, f)
		ownIdx = append(ownIdx, i)
	}
	if len(own.Forwards) == 0 {
		return eps, func() {}, nil
	}
	s, err := New(own)
	if err != nil {
		return nil, nil, err
	}
	stop = s.Start(ctx)
	wctx, wcancel := context.WithTimeout(ctx, wait)
	_ = s.WaitUp(wctx)
	wcancel()
	for j, ep := range s.Endpoints() {
		eps[ownIdx[j]] = ep
	}
	return eps, stop, nil
}

// Endpoints returns where each forward can be reached now, for checks run
// while the supervisor runs (verify at the end of up): the URL of every
// forward that is up or answers unhealthily, the reason for the others.
func (s *Supervisor) Endpoints() []Endpoint {
	var eps []Endpoint
	for _, st := range s.Status() {
		ep := Endpoint{Name: st.Forward.Name}
		if st.State == StateUp || st.State == StateUnhealthy {
			ep.URL = st.URL
		} else {
			ep.Err = fmt.Errorf("forward %s is %s: %s", st.Forward.Name, st.State, reasonOf(st))
		}
		eps = append(eps, ep)
	}
	return eps
}

// reasonOf is why a forward is not up, never empty: a forward still
// starting has no reason of its own yet, only the lack of a tunnel.
func reasonOf(st Status) string {
	if st.Reason != "" {
		return st.Reason
	}
	if st.State == StateStarting {
		return "no tunnel opened yet (no ready pod found, or the API server is slow to answer)"
	}
	return "no reason given"
}
