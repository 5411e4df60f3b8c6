package forward

import (
	"fmt"
	"strings"
	"testing"

	"github.com/neuroscale-dev/neuroscale/internal/config"
)

// TestReasonOfNeverEmpty: verify prints "forward X is starting: <reason>"
// for a forward that did not come up; the reason must say something.
func TestReasonOfNeverEmpty(t *testing.T) {
	t.Parallel()
	for _, st := range []Status{
		{State: StateStarting},
		{State: StateWaiting},
		{State: StateDown, Reason: "pod gone"},
	} {
		got := reasonOf(st)
		if strings.TrimSpace(got) == "" {
			t.Errorf("%s: empty reason", st.State)
		}
		if st.Reason != "" && got != st.Reason {
			t.Errorf("%s: reason %q, want the forward's own %q", st.State, got, st.Reason)
		}
	}
}

// TestDownShownOncePerOutage: a forward whose pod serves nothing fails
// each second with a new reason; that is one line until it comes back.
func TestDownShownOncePerOutage(t *testing.T) {
	t.Parallel()
	var shown []Event
	o := Options{OnEvent: func(e Event) { shown = append(shown, e) }}
	setDefaults(&o)
	s := &Supervisor{o: o, changed: make(chan struct{}), status: make([]Status, 1)}
	w := &worker{s: s, f: config.Forward{Name: "backstage"}}
	w.emit(StateUp, "pod-a", "websocket", "", nil)
	for i := range 5 {
		w.emit(StateDown, "pod-a", "websocket", fmt.Sprintf("probe: dial 127.0.0.1:%d: connection refused, reconnecting", 40000+i), nil)
	}
	w.emit(StateDown, "pod-a", "", "cannot open a tunnel to pod pod-a: EOF; retrying", nil)
	w.emit(StateUp, "pod-a", "websocket", "", nil)
	w.emit(StateDown, "pod-a", "websocket", "tunnel closed, reconnecting", nil)
	var states []string
	for _, e := range shown {
		states = append(states, string(e.State))
	}
	if got := strings.Join(states, ","); got != "up,down,up,down" {
		t.Errorf("shown %s, want up,down,up,down", got)
	}
	if st := s.Status()[0]; st.Reason != "tunnel closed, reconnecting" {
		t.Errorf("status reason %q: the hidden retries must still update the status", st.Reason)
	}
}
