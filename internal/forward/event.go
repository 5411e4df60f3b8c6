package forward

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// State is where one forward stands.
type State string

// States of a forward, in the order a forward usually goes through them.
const (
	// StateStarting: the forward is being set up.
	StateStarting State = "starting"
	// StateBlocked: the local port is held by another process.
	StateBlocked State = "blocked"
	// StateWaiting: there is no ready pod behind the Service.
	StateWaiting State = "waiting"
	// StateUp: the tunnel is open and the probe passes.
	StateUp State = "up"
	// StateUnhealthy: the tunnel works but the probe gets an error status
	// (the application answers, unhealthily), so the tunnel is kept.
	StateUnhealthy State = "unhealthy"
	// StateDown: the tunnel died, its pod went away or the probe could
	// not reach the backend; it is being re-opened.
	StateDown State = "down"
	// StateStopped: the supervisor stopped.
	StateStopped State = "stopped"
)

// Event is one state change of one forward.
type Event struct {
	Time    time.Time `json:"time"`
	Forward string    `json:"forward"`
	URL     string    `json:"url"`
	State   State     `json:"state"`
	// Pod is the pod the tunnel goes to, when there is one.
	Pod string `json:"pod,omitempty"`
	// Via is the tunnel's transport: websocket or spdy.
	Via string `json:"via,omitempty"`
	// Reason says why the state changed: the probe's answer, the tunnel's
	// error, what happened to the pod.
	Reason string `json:"reason,omitempty"`
	// Downtime is set on an up event that ends an outage: how long the
	// forward was not up.
	Downtime time.Duration `json:"downtime,omitempty"`
	// Err is the typed error behind a blocked forward (*PortInUseError).
	Err error `json:"-"`
}

// String is the event as the printer shows it, without name and URL.
func (e Event) String() string {
	var b strings.Builder
	b.WriteString(string(e.State))
	switch e.State {
	case StateUp:
		var details []string
		if e.Downtime > 0 {
			details = append(details, "back after "+e.Downtime.Round(time.Millisecond).String())
		}
		if e.Pod != "" {
			details = append(details, "pod "+e.Pod)
		}
		if e.Via != "" {
			details = append(details, e.Via)
		}
		if len(details) > 0 {
			b.WriteString(" (" + strings.Join(details, ", ") + ")")
		}
	default:
		if e.Reason != "" {
			b.WriteString(": " + e.Reason)
		}
	}
	return b.String()
}

// NewPrinter returns an event callback that writes one aligned line per
// event to w, such as
//
//	backstage  http://127.0.0.1:7010  up (pod neuroscale-backstage-5d8f-x2x, websocket)
//	backstage  http://127.0.0.1:7010  down: pod replaced (neuroscale-backstage-5d8f-x2x → neuroscale-backstage-5d8f-k9q), reconnecting
//
// names are the forwards' names, for the column width.
func NewPrinter(w io.Writer, names []string) func(Event) {
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	var mu sync.Mutex
	return func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, "%-*s  %-24s  %s\n", width, e.Forward, e.URL, e.String())
	}
}
