package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
)

// ProbeTimeout bounds Probe: an API server that has not answered /version
// by then will not carry a command either, and the user learns it in
// seconds instead of after client-go's retries.
const ProbeTimeout = 5 * time.Second

// UnreachableError is a cluster whose API server did not answer, or
// refused the kubeconfig's credentials. Every command that needs the
// cluster returns it, so the message and the hint are the same everywhere.
type UnreachableError struct {
	// Server is the API server's URL from the kubeconfig.
	Server string
	// Context is the kubeconfig context in use.
	Context string
	// Reason is what went wrong, short: "connection refused", "no answer
	// within 5s", "credentials rejected (401)".
	Reason string
	Err    error
}

// Error implements error.
func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cluster unreachable: %s (context %s): %s", e.Server, dash(e.Context), e.Reason)
}

// Unwrap returns the transport's error.
func (e *UnreachableError) Unwrap() error { return e.Err }

// Hint says what to do next.
func (e *UnreachableError) Hint() string {
	return "start the cluster (neuroscale up creates a k3d one), or point --kubeconfig/--context at a running one"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Probe asks the API server of acc for /version within ProbeTimeout and
// returns an *UnreachableError when it does not answer. Any HTTP answer
// but 401 counts as reachable: /version is public, and whether the user
// may do more is for the command's own requests to say.
func Probe(ctx context.Context, acc *Access) error {
	cfg := rest.CopyConfig(acc.REST)
	cfg.Timeout = ProbeTimeout
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return fmt.Errorf("client for %s: %w", acc.REST.Host, err)
	}
	err = dc.RESTClient().Get().AbsPath("/version").Do(ctx).Error()
	if err == nil {
		return nil
	}
	if parent := context.Cause(ctx); parent != nil && !errors.Is(parent, context.DeadlineExceeded) {
		// The command itself was cancelled (Ctrl-C): not the cluster's fault.
		return parent
	}
	ue := &UnreachableError{Server: acc.REST.Host, Context: acc.Context, Err: err}
	var status apierrors.APIStatus
	var op *net.OpError
	var dns *net.DNSError
	switch {
	case apierrors.IsUnauthorized(err):
		ue.Reason = "credentials rejected (401)"
	case errors.As(err, &status):
		return nil
	case errors.As(err, &dns):
		ue.Reason = "host " + dns.Name + " not found"
	case errors.As(err, &op) && op.Err != nil:
		ue.Reason = reason(op.Err)
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		ue.Reason = fmt.Sprintf("no answer within %s", ProbeTimeout)
	default:
		ue.Reason = err.Error()
		var uerr *url.Error
		if errors.As(err, &uerr) {
			ue.Reason = uerr.Err.Error()
		}
	}
	return ue
}

// reason turns a dial error into its last, telling part: "connection
// refused" rather than "dial tcp 127.0.0.1:6443: connect: connection refused".
func reason(err error) string {
	if isTimeout(err) {
		return fmt.Sprintf("no answer within %s", ProbeTimeout)
	}
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
