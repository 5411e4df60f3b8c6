// Package diag is neuroscale's one vocabulary for what a check found: a
// Diagnostic (ID, severity, object, position, message, fix, evidence),
// printed by one text printer (and as JSON through its field tags, by the
// command layer's -o json); Failed, every problem a check found as one
// error; and the one way to carry what to do next (Hint) and an exit code
// (ExitCode) on an error, read back with errors.As. Config, preflight,
// secrets, validate and doctor report Diagnostics; the command layer
// prints them.
package diag

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// Severity says whether a diagnostic stops the command.
type Severity string

// Severities. Only errors fail a check.
const (
	Error   Severity = "error"
	Warning Severity = "warning"
)

// Diagnostic is one thing a check found.
type Diagnostic struct {
	// ID names the rule or check: NS-BACKSTAGE-TITLE, port, memory.
	ID       string   `json:"id"`
	Severity Severity `json:"severity"`
	// Object is what it is about: "Kind namespace/name", a config key, a
	// host port.
	Object string `json:"object,omitempty"`
	// Path is the values path inside Object, when it is a values tree.
	Path string `json:"path,omitempty"`
	// Position is file:line:column in the config file when the cause is
	// written there.
	Position string `json:"position,omitempty"`
	Message  string `json:"message"`
	// Fix says what to change.
	Fix string `json:"fix,omitempty"`
	// Evidence is what was seen (a status, a log line); never a secret.
	Evidence string `json:"evidence,omitempty"`
}

// String is the diagnostic as one line of text:
// ERROR ID object: message (values P; at file:line:col) (fix: F).
func (d Diagnostic) String() string {
	return strings.ToUpper(string(d.Severity)) + " " + d.Text()
}

// Text is the diagnostic without its severity, for callers that say it
// themselves ("warning: NS-ID object: ...").
func (d Diagnostic) Text() string {
	s := d.text()
	if d.Fix != "" {
		s += " (fix: " + d.Fix + ")"
	}
	return s
}

// Error makes a Diagnostic an error, so a check that finds one problem
// returns it as one and the caller still reads every field with
// errors.As. Its text is Text's.
func (d Diagnostic) Error() string { return d.Text() }

// text is Text without the fix.
func (d Diagnostic) text() string {
	var b strings.Builder
	b.WriteString(d.ID)
	if d.Object != "" {
		fmt.Fprintf(&b, " %s", d.Object)
	}
	fmt.Fprintf(&b, ": %s", d.Message)
	var where []string
	if d.Path != "" {
		where = append(where, "values "+d.Path)
	}
	if d.Position != "" {
		where = append(where, "at "+d.Position)
	}
	if len(where) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(where, "; "))
	}
	if d.Evidence != "" {
		fmt.Fprintf(&b, " (seen: %s)", d.Evidence)
	}
	return b.String()
}

// Errors counts the diagnostics of severity Error.
func Errors(ds []Diagnostic) int {
	n := 0
	for _, d := range ds {
		if d.Severity == Error {
			n++
		}
	}
	return n
}

// WriteText prints one line per diagnostic.
func WriteText(w io.Writer, ds []Diagnostic) error {
	for _, d := range ds {
		if _, err := fmt.Fprintln(w, d.String()); err != nil {
			return err
		}
	}
	return nil
}

// Failed is the error of a check that found problems: every one of them
// at once (Validate returns every problem), each a Diagnostic, and what
// to do next. Config, preflight and secrets return it; JSON printers and
// tests read Diagnostics with errors.As.
type Failed struct {
	// Check names what found the problems: "config", "preflight", "secrets".
	Check       string       `json:"check"`
	Diagnostics []Diagnostic `json:"diagnostics"`
	// Next says what to do next; the command layer prints it as the hint.
	Next string `json:"next,omitempty"`
}

// Error lists every diagnostic on a line of its own, its fix on the next,
// so no line runs far past a terminal's width:
//
//	config found 2 problems
//	  - config: cluster.provider "k3s" is not known (at neuroscale.yaml:4:13)
//	    fix: did you mean "k3d"?
//	  - ...
func (e *Failed) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s found %d problem", e.Check, len(e.Diagnostics))
	if len(e.Diagnostics) != 1 {
		b.WriteString("s")
	}
	for _, d := range e.Diagnostics {
		b.WriteString("\n  - ")
		b.WriteString(d.text())
		if d.Fix != "" {
			b.WriteString("\n    fix: ")
			b.WriteString(d.Fix)
		}
	}
	return b.String()
}

// Hint says what to do next.
func (e *Failed) Hint() string { return e.Next }

// Hinter is an error that knows what the user should do next; the command
// layer prints it under the error as "Hint: ...".
type Hinter interface {
	Hint() string
}

// Hint returns the hint of the first error in err's chain that has one.
func Hint(err error) string {
	var h Hinter
	if errors.As(err, &h) {
		return h.Hint()
	}
	return ""
}

// ExitCoder is an error that sets the process's exit code.
type ExitCoder interface {
	ExitCode() int
}

// ExitCode returns the exit code of the first error in err's chain that
// sets one.
func ExitCode(err error) (int, bool) {
	var c ExitCoder
	if errors.As(err, &c) {
		return c.ExitCode(), true
	}
	return 0, false
}

// WithHint returns err with a hint (and err's own exit code, if any).
func WithHint(err error, hint string) error { return &hinted{err: err, hint: hint} }

type hinted struct {
	err  error
	hint string
}

func (e *hinted) Error() string { return e.err.Error() }
func (e *hinted) Unwrap() error { return e.err }
func (e *hinted) Hint() string  { return e.hint }
