package platform

import (
	"strings"

	"github.com/neuroscale-dev/neuroscale/internal/verify"
)

// invalidPlatformHint is what to do when the rendered platform breaks a
// rule: Up returns a *diag.Failed of check "validate" before the cluster is
// touched.
const invalidPlatformHint = "nothing was created or applied; fix the findings (neuroscale validate lists them with their lines) and run neuroscale up again"

// VerifyError is a platform that converged but failed an end-to-end
// check; the report was already shown through the Printer.
type VerifyError struct{ Report verify.Report }

// Error implements error.
func (e *VerifyError) Error() string {
	var failed []string
	for _, r := range e.Report.Results {
		if r.Status == verify.Fail {
			failed = append(failed, r.ID)
		}
	}
	return "the platform is installed but not working: verify failed (" + strings.Join(failed, ", ") + ")"
}

// Hint says what to do next.
func (e *VerifyError) Hint() string {
	return "each failed check above says what to do; neuroscale verify runs the checks again, neuroscale doctor looks deeper"
}

// ExitCode is 1, as for any failed command.
func (e *VerifyError) ExitCode() int { return 1 }

// NoAccessError is a platform cluster that the kubeconfig does not reach.
type NoAccessError struct{ Err error }

// Error implements error.
func (e *NoAccessError) Error() string { return e.Err.Error() }

// Unwrap returns the kubeconfig error.
func (e *NoAccessError) Unwrap() error { return e.Err }

// Hint says what to do next.
func (e *NoAccessError) Hint() string {
	return "run neuroscale up first, or point --kubeconfig/--context at the platform's cluster"
}
