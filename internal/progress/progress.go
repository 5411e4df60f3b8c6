// Package progress is how `up` and `down` show what they do while they do
// it: every phase (preflight, download, render, validate, cluster, each
// component's stage, verify, forward) reports Events to one Sink, from the
// first second. The sinks here print them: one JSON object per line for
// -o json, a line per finished phase or stage for logs and CI, and a
// spinner on a terminal.
package progress

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
	clk "k8s.io/utils/clock"
)

// State is where a stage is in its life.
type State string

// Stage states, as reported in events and in the JSON output.
const (
	StateRunning   State = "running"
	StateReady     State = "ready"
	StateUnchanged State = "unchanged"
	StateFailed    State = "failed"
	StateSkipped   State = "skipped"
	StateCancelled State = "cancelled"
	// StateDone ends a phase that succeeded (phases are not stages: they
	// are neither ready nor unchanged, they are done).
	StateDone State = "done"
)

// Final reports whether the state ends a stage.
func (s State) Final() bool { return s != StateRunning }

// OK reports whether the stage succeeded.
func (s State) OK() bool { return s == StateReady || s == StateUnchanged || s == StateDone }

// Phases of `up`, in the order they run. Each reports a running event
// when it starts and a final one when it ends; the converge phase brackets
// the events of the component stages.
const (
	PhaseConfig    = "config"
	PhasePreflight = "preflight"
	PhaseSecrets   = "secrets"
	PhaseDownload  = "download"
	PhaseRender    = "render"
	PhaseValidate  = "validate"
	PhaseCluster   = "cluster"
	PhaseConverge  = "converge"
	PhaseVerify    = "verify"
	PhaseForward   = "forward"
)

// Event is one state change of a phase (Phase set) or of a component's
// stage (Stage set). Its JSON form is the -o json progress line:
// {"time","phase"|"stage","state","duration_s","message"}; the key that
// is not set is left out, so a reader that knows only stages skips the
// phases.
type Event struct {
	Time     time.Time
	Phase    string
	Stage    string
	State    State
	Duration time.Duration
	Message  string
}

// Name is the phase or stage the event is about.
func (e Event) Name() string {
	if e.Stage != "" {
		return e.Stage
	}
	return e.Phase
}

// MarshalJSON writes the documented progress line shape.
func (e Event) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Time     string  `json:"time"`
		Phase    string  `json:"phase,omitempty"`
		Stage    string  `json:"stage,omitempty"`
		State    State   `json:"state"`
		Duration float64 `json:"duration_s"`
		Message  string  `json:"message"`
	}{
		Time:     e.Time.UTC().Format(time.RFC3339Nano),
		Phase:    e.Phase,
		Stage:    e.Stage,
		State:    e.State,
		Duration: math.Round(e.Duration.Seconds()*1000) / 1000,
		Message:  e.Message,
	})
}

// Sink receives progress. It is the whole interface between the code that
// does the work and the display: Report is called from many goroutines,
// in the order things happen for any one phase or stage, and must not
// block for long; Close is called once, after the last Report, and leaves
// the output on a fresh line. A Sink never fails the work it shows.
type Sink interface {
	Report(Event)
	Close() error
}

// Discard is a Sink that drops every event.
var Discard Sink = discard{}

type discard struct{}

func (discard) Report(Event) {}
func (discard) Close() error { return nil }

// Formats of NewReporter.
const (
	FormatText = "text"
	FormatJSON = "json"
)

// New returns the sink for w: one JSON event per line for
// "json"; for "text" a spinner when w is a terminal that can take one (not
// TERM=dumb, no NO_COLOR), plain lines otherwise, as kind does.
func New(w io.Writer, format string, env []string, clock clk.PassiveClock) Sink {
	if clock == nil {
		clock = clk.RealClock{}
	}
	if format == FormatJSON {
		return &jsonReporter{w: w}
	}
	if smartTerminal(w, env) {
		return newSpinner(w, clock, 100*time.Millisecond)
	}
	return &lineReporter{w: w}
}

func smartTerminal(w io.Writer, env []string) bool {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return false
	}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if k == "NO_COLOR" && v != "" {
			return false
		}
		if k == "TERM" && (v == "dumb" || v == "") {
			return false
		}
	}
	return true
}

type jsonReporter struct {
	mu sync.Mutex
	w  io.Writer
}

func (r *jsonReporter) Report(e Event) {
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, _ = r.w.Write(append(b, '\n'))
}

func (r *jsonReporter) Close() error { return nil }

// lineReporter writes one line per finished stage: logs and CI output stay
// readable, and nothing is redrawn.
type lineReporter struct {
	mu sync.Mutex
	w  io.Writer
}

func (r *lineReporter) Report(e Event) {
	if !e.State.Final() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, _ = io.WriteString(r.w, FormatLine(e)+"\n")
}

func (r *lineReporter) Close() error { return nil }

// FormatLine is the text form of a final event: "✓ cert-manager  5.2s".
func FormatLine(e Event) string {
	mark := map[State]string{
		StateReady: "✓", StateUnchanged: "✓", StateDone: "✓", StateFailed: "✗", StateSkipped: "-", StateCancelled: "!",
	}[e.State]
	if mark == "" {
		mark = "•"
	}
	line := fmt.Sprintf("%s %-16s", mark, e.Name())
	if e.State != StateSkipped && !(e.State == StateCancelled && e.Duration == 0) {
		line += fmt.Sprintf(" %6s", formatDuration(e.Duration))
	}
	switch e.State {
	case StateUnchanged:
		line += "  unchanged"
	case StateFailed, StateSkipped, StateCancelled:
		msg := e.Message
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		if msg != "" {
			line += "  " + msg
		}
	}
	return strings.TrimRight(line, " ")
}

func formatDuration(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}

// spinner animates one line listing the running stages and prints each
// finished stage above it.
type spinner struct {
	mu      sync.Mutex
	w       io.Writer
	clock   clk.PassiveClock
	running map[string]time.Time
	frame   int
	drawn   bool
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// spinnerFrames are the braille frames kind and many CLIs use.
const spinnerFrames = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

func newSpinner(w io.Writer, clock clk.PassiveClock, every time.Duration) *spinner {
	s := &spinner{w: w, clock: clock, running: map[string]time.Time{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.mu.Lock()
				s.frame++
				s.redraw()
				s.mu.Unlock()
			}
		}
	}()
	return s
}

func (s *spinner) Report(e Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.State == StateRunning {
		s.running[e.Name()] = e.Time
	} else {
		delete(s.running, e.Name())
		s.clear()
		_, _ = io.WriteString(s.w, FormatLine(e)+"\n")
	}
	s.redraw()
}

func (s *spinner) clear() {
	if s.drawn {
		_, _ = io.WriteString(s.w, "\r\033[K")
		s.drawn = false
	}
}

func (s *spinner) redraw() {
	s.clear()
	if len(s.running) == 0 {
		return
	}
	names := make([]string, 0, len(s.running))
	var oldest time.Time
	for n, t := range s.running {
		names = append(names, n)
		if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	sort.Strings(names)
	_, _ = fmt.Fprintf(s.w, "%s %s  %s", frame(s.frame), strings.Join(names, ", "), formatDuration(s.clock.Now().Sub(oldest)))
	s.drawn = true
}

func (s *spinner) Close() error {
	s.once.Do(func() {
		close(s.stop)
		<-s.done
		s.mu.Lock()
		s.clear()
		s.mu.Unlock()
	})
	return nil
}

func frame(i int) string {
	r := []rune(spinnerFrames)
	return string(r[i%len(r)])
}
