//go:build !linux

package preflight

// Holder is only implemented on Linux (from /proc); elsewhere a busy port
// is reported without its process.
func Holder(int) *Process { return nil }
