// Package porttest hands tests loopback ports: one nothing listens on
// (for "connection refused" and for configs that name a port), and one a
// listener holds until the test ends (for "port in use").
package porttest

import (
	"net"
	"testing"
)

// Free returns a loopback port that was free a moment ago. Only for
// ports nothing of the test binds itself: one it binds would race.
func Free(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Occupied listens on a free loopback port until the test ends and
// returns the port.
func Occupied(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().(*net.TCPAddr).Port
}
