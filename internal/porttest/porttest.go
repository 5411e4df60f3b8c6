// Package porttest hands tests loopback ports: one nothing listens on
// (for "connection refused" and for configs that name a port), and one a
// listener holds until the test ends (for "port in use").
package porttest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strconv"
	"testing"
)

// lowest is the bottom of the range Free picks from: above the ports
// services commonly use.
const lowest = 20000

// Free returns a loopback port that was free a moment ago and that the
// kernel does not hand out by itself: it lies below the ephemeral range,
// so a test server or client that binds port 0 (in this process or a
// parallel test binary) cannot take it between Free and its use. Only for
// ports nothing of the test binds itself: one it binds would race.
func Free(t testing.TB) int {
	t.Helper()
	top := ephemeralLow()
	for range 200 {
		port := lowest + rand.IntN(top-lowest)
		l, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		l.Close()
		return port
	}
	t.Fatalf("porttest: no free port in %d-%d", lowest, top-1)
	return 0
}

// ephemeralLow is the first port of the range the kernel picks from for
// port 0 (Linux reads it from /proc; others use the IANA range).
func ephemeralLow() int {
	if runtime.GOOS == "linux" {
		if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
			var lo, hi int
			if _, err := fmt.Sscan(string(b), &lo, &hi); err == nil && lo > lowest+1000 {
				return lo
			}
		}
		return 32768
	}
	return 49152
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
