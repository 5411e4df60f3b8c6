// Package progress is how `up` and `down` show what they do while they do
// it: every phase (preflight, download, render, validate, cluster, each
// component's stage, verify, forward) reports Events to one Sink, from the
// first second. The sinks here print them: one JSON object per line for
// -o json, a line when a phase or stage starts and when it ends for logs
// and CI, and on a terminal a spinner line cut to its width, with the
// total time and a bar for downloads. Text printed while phases run goes
// through Println, so it never breaks the spinner's line.
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
	// PhasePrePull pulls the platform's images onto the nodes while
	// converge installs (package prepull): it runs beside converge and
	// reports images done in Message and their bytes in Bytes.
	PhasePrePull  = "pre-pull"
	PhaseConverge = "converge"
	PhaseVerify   = "verify"
	PhaseForward  = "forward"
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
	// Bytes of Total are done, for a running phase that moves data (the
	// downloads); Total is 0 when nothing says how much there is.
	Bytes, Total int64
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
		Bytes    int64   `json:"bytes,omitempty"`
		Total    int64   `json:"total_bytes,omitempty"`
	}{
		Time:     e.Time.UTC().Format(time.RFC3339Nano),
		Phase:    e.Phase,
		Stage:    e.Stage,
		State:    e.State,
		Duration: math.Round(e.Duration.Seconds()*1000) / 1000,
		Message:  e.Message,
		Bytes:    e.Bytes,
		Total:    e.Total,
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
		return newSpinner(w, clock, 100*time.Millisecond, terminalWidth(w))
	}
	return &lineReporter{w: w, started: map[string]bool{}}
}

// terminalWidth returns how many columns w's terminal has now (it may be
// resized while up runs), 80 when it cannot tell.
func terminalWidth(w io.Writer) func() int {
	return func() int {
		if f, ok := w.(*os.File); ok {
			if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 0 {
				return cols
			}
		}
		return 80
	}
}

// liner is a Sink that draws something a plain write would break.
type liner interface {
	println(w io.Writer, line string)
}

// Println writes line to w without breaking what sink draws: a spinner
// takes its line away, lets line through and draws itself again below
// it. Warnings, the plan and forward changes printed while phases run go
// through it.
func Println(sink Sink, w io.Writer, line string) {
	if l, ok := sink.(liner); ok {
		l.println(w, line)
		return
	}
	_, _ = io.WriteString(w, line+"\n")
}

// Writer returns a writer that passes each complete line written to it to
// Println, for code that prints whole reports to an io.Writer.
func Writer(sink Sink, w io.Writer) io.Writer {
	return &lineWriter{sink: sink, w: w}
}

type lineWriter struct {
	mu   sync.Mutex
	sink Sink
	w    io.Writer
	buf  []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := strings.IndexByte(string(l.buf), '\n')
		if i < 0 {
			return len(p), nil
		}
		Println(l.sink, l.w, string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
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

// lineReporter writes a line when a phase or stage starts and one when it
// ends, so a log or CI shows what a long wait is waiting for; nothing is
// redrawn, and the progress of a running phase is not repeated.
type lineReporter struct {
	mu      sync.Mutex
	w       io.Writer
	started map[string]bool
}

func (r *lineReporter) Report(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !e.State.Final() {
		if r.started[e.Name()] {
			return
		}
		r.started[e.Name()] = true
		_, _ = io.WriteString(r.w, "• "+e.Name()+" ...\n")
		return
	}
	delete(r.started, e.Name())
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
			// The whole error is printed once at the end; the line only
			// says which way it failed.
			line += "  " + cut(msg, maxMessage)
		}
	}
	return strings.TrimRight(line, " ")
}

// maxMessage is the most of a failure's message a progress line shows.
const maxMessage = 120

func formatDuration(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}

// spinner animates one line of the running phases and stages, with the
// total time since up started, cut to the terminal's width; each finished
// one is printed above it.
type spinner struct {
	mu      sync.Mutex
	w       io.Writer
	clock   clk.PassiveClock
	width   func() int
	start   time.Time
	running map[string]Event
	frame   int
	drawn   bool
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// spinnerFrames are the braille frames kind and many CLIs use.
const spinnerFrames = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

func newSpinner(w io.Writer, clock clk.PassiveClock, every time.Duration, width func() int) *spinner {
	s := &spinner{w: w, clock: clock, width: width, start: clock.Now(), running: map[string]Event{},
		stop: make(chan struct{}), done: make(chan struct{})}
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
		s.running[e.Name()] = e
	} else {
		delete(s.running, e.Name())
		s.clear()
		_, _ = io.WriteString(s.w, cut(FormatLine(e), s.width())+"\n")
	}
	s.redraw()
}

func (s *spinner) println(w io.Writer, line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clear()
	_, _ = io.WriteString(w, line+"\n")
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
	for n := range s.running {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = describe(s.running[n])
	}
	// One column less than the width: a line that fills it wraps on some
	// terminals, and \r then clears only the wrapped part. What is cut is
	// the list, never the total time at the end.
	head, tail := frame(s.frame)+" ", "  "+formatDuration(s.clock.Now().Sub(s.start))
	room := s.width() - 1 - len([]rune(head)) - len([]rune(tail))
	_, _ = io.WriteString(s.w, head+cut(strings.Join(parts, ", "), room)+tail)
	s.drawn = true
}

// describe is a running phase or stage on the spinner line: its name, and
// its progress when it reports some (a bar for bytes).
func describe(e Event) string {
	switch {
	case e.Total > 0:
		return fmt.Sprintf("%s %s %s/%s", e.Name(), bar(e.Bytes, e.Total, 10), formatBytes(e.Bytes), formatBytes(e.Total))
	case e.Message != "" && e.Bytes > 0:
		return e.Name() + " " + e.Message + " " + formatBytes(e.Bytes)
	case e.Message != "":
		return e.Name() + " " + e.Message
	}
	return e.Name()
}

// bar draws done of total in width cells.
func bar(done, total int64, width int) string {
	n := int(min(done, total) * int64(width) / total)
	return "[" + strings.Repeat("#", n) + strings.Repeat("-", width-n) + "]"
}

// formatBytes is n in B, kB or MB (powers of 1000, as download tools show).
func formatBytes(n int64) string {
	switch {
	case n >= 1e6:
		return fmt.Sprintf("%.1fMB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.0fkB", float64(n)/1e3)
	}
	return fmt.Sprintf("%dB", n)
}

// cut shortens line to width columns (runes: the frames and marks are
// one column each), ending in "…" when it had to cut.
func cut(line string, width int) string {
	r := []rune(line)
	if len(r) <= width {
		return line
	}
	if width < 1 {
		return ""
	}
	return string(r[:width-1]) + "…"
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
