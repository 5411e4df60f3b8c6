package forward

import (
	"context"
	"errors"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/neuroscale-dev/neuroscale/internal/config"
)

// TestBusyPort holds a forward's local port and checks that the supervisor
// reports it with its holder (this process), keeps retrying, and takes the
// port once it is free. Binding comes before any cluster access, so no
// cluster is needed.
func TestBusyPort(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the holder lookup reads Linux's /proc")
	}
	t.Parallel()
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := held.Addr().(*net.TCPAddr).Port
	events := make(chan Event, 100)
	s, err := New(Options{
		// Nothing listens here: the forward never gets past its watch.
		REST:     &rest.Config{Host: "https://127.0.0.1:1"},
		Forwards: []config.Forward{{Name: "backstage", Namespace: "backstage", Service: "neuroscale-backstage", LocalPort: port, RemotePort: 7007, Scheme: "http"}},
		OnEvent:  func(e Event) { events <- e },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Start(context.Background())()

	e := waitEvent(t, events, StateBlocked, 5*time.Second)
	var pe *PortInUseError
	if !errors.As(e.Err, &pe) {
		t.Fatalf("blocked event error = %v, want *PortInUseError", e.Err)
	}
	if pe.Holder == nil || pe.Holder.PID != os.Getpid() {
		t.Fatalf("holder = %+v, want this process (pid %d)", pe.Holder, os.Getpid())
	}
	if !strings.Contains(e.Reason, "127.0.0.1:") || !strings.Contains(e.Reason, "in use by pid") {
		t.Errorf("reason = %q, want the address and the holder", e.Reason)
	}
	if !strings.Contains(pe.Hint(), "localPort") {
		t.Errorf("hint = %q, want the way out", pe.Hint())
	}

	_ = held.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ln, err := net.Listen("tcp", held.Addr().String())
		if err != nil {
			break // the supervisor holds it now
		}
		_ = ln.Close()
		if time.Now().After(deadline) {
			t.Fatal("the supervisor did not take the freed port")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st := s.Status()[0]; st.State == StateBlocked {
		t.Errorf("status after the port was freed = %s, want not blocked", st.State)
	}
}

// waitEvent returns the first event in state want (any state when want is
// empty), failing after d.
func waitEvent(t *testing.T, events <-chan Event, want State, d time.Duration) Event {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case e := <-events:
			t.Logf("event: %s %s", e.Forward, e)
			if want == "" || e.State == want {
				return e
			}
		case <-timeout:
			t.Fatalf("no %s event within %v", want, d)
		}
	}
}
