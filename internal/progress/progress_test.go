package progress

import (
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
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
	if got := b.String(); got != "• a ...\n✓ a                  1.0s\n" {
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
	clock := clocktesting.NewFakePassiveClock(at)
	s := newSpinner(&b, clock, time.Hour, func() int { return 80 })
	clock.SetTime(at.Add(2 * time.Second))
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

// TestSpinnerLine: the spinner line shows the total time since up started
// (not the oldest stage's), a bar for a phase that moves bytes, and never
// runs past the terminal's width.
func TestSpinnerLine(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var b syncBuffer
	clock := clocktesting.NewFakePassiveClock(at)
	width := 60
	s := newSpinner(&b, clock, time.Hour, func() int { return width })
	clock.SetTime(at.Add(65 * time.Second))
	s.Report(Event{Time: at.Add(60 * time.Second), Phase: "download", State: StateRunning, Bytes: 2_500_000, Total: 10_000_000})
	out := b.String()
	if want := "⠋ download [##--------] 2.5MB/10.0MB  1m5s"; !strings.Contains(out, want) {
		t.Errorf("spinner %q lacks %q", out, want)
	}
	width = 30
	s.Report(Event{Time: at, Stage: "a-very-long-stage-name", State: StateRunning})
	out = b.String()
	last := out[strings.LastIndex(out, "\r\033[K")+len("\r\033[K"):]
	if n := len([]rune(last)); n != 29 || !strings.HasSuffix(last, "…  1m5s") {
		t.Errorf("spinner line %q is %d columns, want 29 ending in the total time", last, n)
	}
	// Pre-pull knows images, not the total bytes: a count and the bytes.
	width = 80
	s.Report(Event{Time: at, Stage: "a-very-long-stage-name", State: StateReady})
	s.Report(Event{Time: at.Add(60 * time.Second), Phase: "download", State: StateDone})
	s.Report(Event{Time: at.Add(61 * time.Second), Phase: PhasePrePull, State: StateRunning, Message: "12/25 images", Bytes: 812_400_000})
	if want := "⠋ pre-pull 12/25 images 812.4MB  1m5s"; !strings.HasSuffix(b.String(), want) {
		t.Errorf("spinner %q does not end in %q", b.String(), want)
	}
	_ = s.Close()
}

// TestPrintlnKeepsTheSpinner: a warning printed while phases run takes the
// spinner's line away and the spinner draws itself again below it.
func TestPrintlnKeepsTheSpinner(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var b syncBuffer
	s := newSpinner(&b, clocktesting.NewFakePassiveClock(at), time.Hour, func() int { return 80 })
	s.Report(Event{Time: at, Phase: "render", State: StateRunning})
	Println(s, &b, "warning: x")
	_ = s.Close()
	if want := "⠋ render  0.0s\r\033[Kwarning: x\n⠋ render  0.0s\r\033[K"; !strings.HasSuffix(b.String(), want) {
		t.Errorf("output %q, want it to end with %q", b.String(), want)
	}
	var plain strings.Builder
	w := Writer(Discard, &plain)
	_, _ = io.WriteString(w, "one\ntw")
	_, _ = io.WriteString(w, "o\n")
	if plain.String() != "one\ntwo\n" {
		t.Errorf("Writer passed %q", plain.String())
	}
}

// TestLinesOffATerminal: a log shows a line when each phase starts and
// when it ends, the progress of a running phase only once, and a failure's
// first line cut short.
func TestLinesOffATerminal(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var b strings.Builder
	rep := New(&b, FormatText, nil, fixedClock{at})
	rep.Report(Event{Time: at, Phase: "download", State: StateRunning})
	rep.Report(Event{Time: at, Phase: "download", State: StateRunning, Bytes: 5, Total: 10})
	rep.Report(Event{Time: at, Phase: "download", State: StateDone, Duration: time.Second})
	rep.Report(Event{Time: at, Phase: "cluster", State: StateRunning})
	rep.Report(Event{Time: at, Phase: "cluster", State: StateFailed, Duration: time.Second, Message: strings.Repeat("x", 300)})
	want := "• download ...\n✓ download           1.0s\n• cluster ...\n✗ cluster            1.0s  " + strings.Repeat("x", 119) + "…\n"
	if b.String() != want {
		t.Errorf("lines:\n%s\nwant:\n%s", b.String(), want)
	}
	var j strings.Builder
	New(&j, FormatJSON, nil, nil).Report(Event{Time: at, Phase: "download", State: StateRunning, Bytes: 5, Total: 10, Message: "1/2 files"})
	if want := `{"time":"2026-01-02T03:04:05Z","phase":"download","state":"running","duration_s":0,"message":"1/2 files","bytes":5,"total_bytes":10}`; strings.TrimSpace(j.String()) != want {
		t.Errorf("json %s, want %s", j.String(), want)
	}
}
