package progress

import (
	"strings"
	"sync"
	"testing"
	"time"
)

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

func (c fixedClock) Since(t time.Time) time.Duration { return c.t.Sub(t) }

func TestProgressFormats(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		ev   Event
		line string
		json string
	}{
		{Event{Time: at, Stage: "cert-manager", State: StateReady, Duration: 5200 * time.Millisecond},
			"✓ cert-manager       5.2s",
			`{"time":"2026-01-02T03:04:05Z","stage":"cert-manager","state":"ready","duration_s":5.2,"message":""}`},
		{Event{Time: at, Stage: "kserve", State: StateFailed, Duration: 90 * time.Second, Message: "webhook x: service y in namespace z has no ready endpoints\nmore"},
			"✗ kserve            1m30s  webhook x: service y in namespace z has no ready endpoints",
			`{"time":"2026-01-02T03:04:05Z","stage":"kserve","state":"failed","duration_s":90,"message":"webhook x: service y in namespace z has no ready endpoints\nmore"}`},
		{Event{Time: at, Stage: "demo", State: StateSkipped, Message: "skipped because kserve failed"},
			"- demo              skipped because kserve failed",
			`{"time":"2026-01-02T03:04:05Z","stage":"demo","state":"skipped","duration_s":0,"message":"skipped because kserve failed"}`},
		{Event{Time: at, Stage: "argocd", State: StateUnchanged, Duration: 120 * time.Millisecond},
			"✓ argocd             0.1s  unchanged",
			`{"time":"2026-01-02T03:04:05Z","stage":"argocd","state":"unchanged","duration_s":0.12,"message":""}`},
	}
	for _, tt := range tests {
		if got := FormatLine(tt.ev); got != tt.line {
			t.Errorf("FormatLine:\n got %q\nwant %q", got, tt.line)
		}
		var b strings.Builder
		rep := New(&b, FormatJSON, nil, fixedClock{at})
		rep.Report(tt.ev)
		if got := strings.TrimSpace(b.String()); got != tt.json {
			t.Errorf("json:\n got %s\nwant %s", got, tt.json)
		}
	}
	// Not a terminal: plain lines, and nothing for "running".
	var b strings.Builder
	rep := New(&b, FormatText, []string{"TERM=xterm"}, fixedClock{at})
	rep.Report(Event{Time: at, Stage: "a", State: StateRunning})
	rep.Report(Event{Time: at, Stage: "a", State: StateReady, Duration: time.Second})
	if err := rep.Close(); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != "✓ a                  1.0s\n" {
		t.Fatalf("plain output %q", got)
	}
}

// TestSpinner: the terminal reporter prints each finished stage on its own
// line, above a redrawn line of the running ones, and leaves the output on
// a clean line when closed.
func TestSpinner(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var b syncBuffer
	s := newSpinner(&b, fixedClock{at.Add(2 * time.Second)}, time.Hour)
	s.Report(Event{Time: at, Stage: "kserve", State: StateRunning})
	s.Report(Event{Time: at, Stage: "argocd", State: StateRunning})
	s.Report(Event{Time: at, Stage: "argocd", State: StateReady, Duration: time.Second})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"⠋ kserve  2.0s", "⠋ argocd, kserve  2.0s", "\r\033[K✓ argocd             1.0s\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("spinner output %q lacks %q", out, want)
		}
	}
	if !strings.HasSuffix(out, "\r\033[K") {
		t.Errorf("spinner not cleared on Close: %q", out)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
