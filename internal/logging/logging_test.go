package logging

import (
	"bytes"
	"errors"
	"strings"
	"testing"

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
