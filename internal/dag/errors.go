package dag

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/neuroscale-dev/neuroscale/internal/diag"
)

// GraphError is a stage graph that cannot run: a missing need, a cycle.
type GraphError struct{ Msg string }

// Error implements error.
func (e *GraphError) Error() string { return "stage graph: " + e.Msg }

// Hint implements the command layer's hint interface.
func (e *GraphError) Hint() string {
	return "the component catalog or the stage graph is inconsistent; this is a bug in neuroscale, please report it"
}

// StageError is a stage that failed.
type StageError struct {
	Stage string
	Err   error
}

// Error implements error.
func (e *StageError) Error() string { return e.Stage + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *StageError) Unwrap() error { return e.Err }

// Hint passes on the hint of the failure, if it has one.
func (e *StageError) Hint() string {
	return diag.Hint(e.Err)
}

// SkippedError is a stage that did not start because a stage it needs
// (directly or through others) failed.
type SkippedError struct {
	Stage string
	// Because is the failed stage at the root.
	Because string
}

// Error implements error.
func (e *SkippedError) Error() string {
	return fmt.Sprintf("%s: skipped because %s failed", e.Stage, e.Because)
}

// Hint implements the command layer's hint interface.
func (e *SkippedError) Hint() string {
	return fmt.Sprintf("fix %s (see its error) and run neuroscale up again", e.Because)
}

// CancelledError is a stage stopped or never started because the run was
// cancelled (Ctrl-C, --timeout).
type CancelledError struct {
	Stage   string
	Started bool
	Err     error
}

// Error implements error.
func (e *CancelledError) Error() string {
	if e.Started {
		return fmt.Sprintf("%s: interrupted: %v", e.Stage, e.Err)
	}
	return e.Stage + ": not started: interrupted"
}

// Unwrap returns the underlying error.
func (e *CancelledError) Unwrap() error { return e.Err }

// InterruptedError is a run cancelled before every stage finished.
type InterruptedError struct {
	Err error
	// Stages did not finish.
	Stages []string
	// Doing are the errors of started stages that say what the stage was
	// doing when it was stopped (they carry a hint of their own, as a
	// wait naming what was still not Ready does), not only that it was:
	// after a --timeout or a Ctrl-C on an up that waited minutes, that is
	// what the user needs.
	Doing []error
}

// Error implements error.
func (e *InterruptedError) Error() string {
	cause := "interrupted"
	if errors.Is(e.Err, context.DeadlineExceeded) {
		cause = "--timeout reached"
	}
	if len(e.Stages) == 0 {
		return cause
	}
	s := fmt.Sprintf("%s before %s finished", cause, strings.Join(e.Stages, ", "))
	for _, d := range e.Doing {
		s += "; " + d.Error()
	}
	return s
}

// Unwrap returns the underlying error.
func (e *InterruptedError) Unwrap() error { return e.Err }

// Hint implements the command layer's hint interface.
func (e *InterruptedError) Hint() string {
	const again = "run neuroscale up again: it recovers half-applied components and interrupted Helm releases"
	for _, d := range e.Doing {
		if h := diag.Hint(d); h != "" {
			return h + "; " + again
		}
	}
	return again
}

// doing returns the errors of the started stages among cancelled that say
// what they were doing (InterruptedError.Doing).
func doing(cancelled []error) []error {
	var out []error
	for _, err := range cancelled {
		var c *CancelledError
		if errors.As(err, &c) && c.Started && diag.Hint(c.Err) != "" {
			out = append(out, err)
		}
	}
	return out
}
