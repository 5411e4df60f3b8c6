package bench

import (
	"bufio"
	"encoding/json"
	"io"
	"strings"
)

// Event is one line of `neuroscale up -o json` progress, as
// internal/engine's Event marshals it.
type Event struct {
	Time     string  `json:"time"`
	Stage    string  `json:"stage"`
	State    string  `json:"state"`
	Duration float64 `json:"duration_s"`
	Message  string  `json:"message"`
}

// Final reports whether the event ends its stage.
func (e Event) Final() bool { return e.State != "" && e.State != "running" }

// ParseEvents reads every JSON event line of r and ignores anything else
// (log lines, a final summary), so the harness does not depend on which
// stream neuroscale writes which line to.
func ParseEvents(r io.Reader) ([]Event, error) {
	var out []Event
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var e Event
		if json.Unmarshal([]byte(line), &e) != nil || e.Stage == "" || e.State == "" {
			continue
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// StageDurations returns each stage's duration from its final event.
func StageDurations(events []Event) map[string]float64 {
	out := map[string]float64{}
	for _, e := range events {
		if e.Final() {
			out[e.Stage] = e.Duration
		}
	}
	return out
}

// Failed returns the stages whose final state is not ready or unchanged.
func Failed(events []Event) []Event {
	var out []Event
	for _, e := range events {
		if e.Final() && e.State != "ready" && e.State != "unchanged" {
			out = append(out, e)
		}
	}
	return out
}

// UpSummary is the part of `neuroscale up -o json`'s final result line the
// harness reads: up's own critical path, which runs through the phases of
// stages whose steps need different things (internal/cli.UpResult).
type UpSummary struct {
	CriticalPath struct {
		Stages  []string `json:"stages"`
		Seconds float64  `json:"duration_s"`
	} `json:"critical_path"`
}

// ParseSummary returns the last line of r that is up's result (it has a
// critical_path), and false when there is none (an older neuroscale).
func ParseSummary(r io.Reader) (UpSummary, bool, error) {
	var out UpSummary
	found := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") || !strings.Contains(line, `"critical_path"`) {
			continue
		}
		var s UpSummary
		if json.Unmarshal([]byte(line), &s) == nil && len(s.CriticalPath.Stages) > 0 {
			out, found = s, true
		}
	}
	return out, found, sc.Err()
}
