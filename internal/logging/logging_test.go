package logging

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
)

// TestLibraryErrorsOnlyWhenVerbose: client-go's error lines (one per
// request an API server restart refuses) stay out of the default output
// and show with -v.
func TestLibraryErrorsOnlyWhenVerbose(t *testing.T) {
	for _, verbose := range []bool{false, true} {
		var out bytes.Buffer
		RouteLibraryLogs(New(&out, verbose))
		klog.ErrorS(errors.New("connection refused"), "Failed to update lease")
		klog.Flush()
		got := out.String()
		if shown := strings.Contains(got, "Failed to update lease"); shown != verbose {
			t.Errorf("verbose=%v: library error shown=%v, output:\n%s", verbose, shown, got)
		}
		if verbose && !strings.Contains(got, "level=DEBUG") {
			t.Errorf("library error not at debug level:\n%s", got)
		}
	}
}

// TestLibraryWireLogsNeverShown: with -v, a library's debug lines show but
// its wire-level ones (a port-forward's bytes at V(7), request bodies at
// V(8)) do not, since they can carry tokens and Secrets.
func TestLibraryWireLogsNeverShown(t *testing.T) {
	var out bytes.Buffer
	// The sink RouteLibraryLogs gives klog and controller-runtime (both
	// process-global, set once; so built here directly).
	logger := logr.FromSlogHandler(debugOnly{New(&out, true).Handler()}).WithName("client")
	logger.V(4).Info("debug line")
	logger.V(7).Info("Tunneling connection write", "data", "Bearer secret-token")
	logger.V(8).Info("Request Body", "body", "secret-body")
	got := out.String()
	if !strings.Contains(got, "debug line") {
		t.Errorf("a V(4) line is not shown with -v:\n%s", got)
	}
	for _, leak := range []string{"secret-token", "secret-body"} {
		if strings.Contains(got, leak) {
			t.Errorf("a wire-level line reached the log (%s):\n%s", leak, got)
		}
	}
}
