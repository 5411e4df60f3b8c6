package engine

import (
	"fmt"
	"strings"
	"time"
)

// NotReady is one object that did not become Ready in time.
type NotReady struct {
	// Object is Kind/namespace/name.
	Object string
	// Status is the last kstatus (InProgress, Failed, NotFound, ...).
	Status string
	// Message is the last status message.
	Message string
	// Cause is the likely reason, found by looking around the object
	// (its pods' waiting reasons, unbound claims, events); may be empty.
	Cause string
	// Hint is the command to look closer.
	Hint string
}

func (n NotReady) String() string {
	s := n.Object
	if n.Status != "" {
		s += " is " + n.Status
	}
	if n.Message != "" {
		s += ": " + n.Message
	}
	if n.Cause != "" {
		s += " (likely cause: " + n.Cause + ")"
	}
	return s
}

// WaitTimeoutError is a wait for readiness that ran out of budget.
type WaitTimeoutError struct {
	// What was waited for: "objects" (of a step, whose error names the
	// step), "CRDs", or a check's name.
	What   string
	Budget time.Duration
	// Failed is set when an object failed for good before the budget ran
	// out (a Job failed, CRD names conflict): waiting longer cannot help.
	Failed bool
	// Interrupted is set when the run ended the wait first (Ctrl-C,
	// --timeout: the context's error), after Waited; Objects are then what
	// was still not Ready.
	Interrupted error
	Waited      time.Duration
	// Objects are the ones still not Ready, the most telling first.
	Objects []NotReady
}

// Error implements error.
func (e *WaitTimeoutError) Error() string {
	var b strings.Builder
	switch {
	case e.Failed:
		fmt.Fprintf(&b, "%s failed: ", e.What)
	case e.Interrupted != nil:
		fmt.Fprintf(&b, "%s still not ready when interrupted after %s: ", e.What, e.Waited.Round(time.Second))
	default:
		fmt.Fprintf(&b, "%s not ready after %s: ", e.What, e.Budget.Round(time.Second))
	}
	const show = 5
	for i, o := range e.Objects {
		if i == show {
			fmt.Fprintf(&b, "; and %d more", len(e.Objects)-show)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(o.String())
	}
	return b.String()
}

// Unwrap returns the interruption (context.Canceled or
// DeadlineExceeded), or nil.
func (e *WaitTimeoutError) Unwrap() error { return e.Interrupted }

// Hint implements the command layer's hint interface.
func (e *WaitTimeoutError) Hint() string {
	if e.Interrupted != nil {
		if len(e.Objects) > 0 && e.Objects[0].Hint != "" {
			return e.Objects[0].Hint + "; neuroscale doctor says what is wrong with the platform"
		}
		return "neuroscale doctor says what is wrong with the platform"
	}
	if len(e.Objects) > 0 && e.Objects[0].Hint != "" {
		return e.Objects[0].Hint + "; a slow machine may need a longer components.<name>.timeout in neuroscale.yaml"
	}
	return "raise components.<name>.timeout in neuroscale.yaml if the machine is slow"
}

// WebhookError is an admission webhook that does not work: no ready
// endpoints behind its Service, or a dry-run request it rejects or cannot
// answer. Until it works, anything it intercepts cannot be created.
type WebhookError struct {
	// Configuration is the Validating/MutatingWebhookConfiguration name and
	// Webhook the entry in it.
	Configuration string
	Webhook       string
	Service       string
	Namespace     string
	// Reason is what is wrong, already phrased for the user.
	Reason string
	Budget time.Duration
}

// Error implements error.
func (e *WebhookError) Error() string {
	s := fmt.Sprintf("admission webhook %s not working", e.Webhook)
	if e.Budget > 0 {
		s += fmt.Sprintf(" after %s", e.Budget.Round(time.Second))
	}
	return s + ": " + e.Reason
}

// Hint implements the command layer's hint interface.
func (e *WebhookError) Hint() string {
	if e.Service == "" {
		return fmt.Sprintf("kubectl get validatingwebhookconfigurations,mutatingwebhookconfigurations %s -o yaml", e.Configuration)
	}
	return fmt.Sprintf("kubectl -n %s get endpointslices -l kubernetes.io/service-name=%s; kubectl -n %s get pods; kubectl -n %s describe service %s",
		e.Namespace, e.Service, e.Namespace, e.Namespace, e.Service)
}
