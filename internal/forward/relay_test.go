package forward

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/neuroscale-dev/neuroscale/internal/porttest"
)

func startRelay(t *testing.T, wait time.Duration) (*relay, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := newRelay(ln, wait)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		r.serve(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return r, "http://" + ln.Addr().String()
}

func get(t *testing.T, url string) (string, error) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestRelay(t *testing.T) {
	t.Parallel()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hello") }))
	t.Cleanup(backend.Close)
	addr := backend.Listener.Addr().String()

	t.Run("relays to the current backend", func(t *testing.T) {
		t.Parallel()
		r, url := startRelay(t, time.Second)
		r.set(addr)
		if body, err := get(t, url); err != nil || body != "hello" {
			t.Fatalf("GET = %q, %v; want hello", body, err)
		}
	})
	t.Run("a connection waits for a tunnel", func(t *testing.T) {
		t.Parallel()
		r, url := startRelay(t, 3*time.Second)
		go func() {
			time.Sleep(300 * time.Millisecond)
			r.set(addr)
		}()
		start := time.Now()
		body, err := get(t, url)
		if err != nil || body != "hello" {
			t.Fatalf("GET = %q, %v; want hello", body, err)
		}
		if d := time.Since(start); d < 250*time.Millisecond {
			t.Errorf("answered after %v, before the backend was set", d)
		}
	})
	t.Run("a dead backend is waited out until the next", func(t *testing.T) {
		t.Parallel()
		deadAddr := fmt.Sprintf("127.0.0.1:%d", porttest.Free(t))
		r, url := startRelay(t, 3*time.Second)
		r.set(deadAddr)
		go func() {
			time.Sleep(200 * time.Millisecond)
			r.set(addr)
		}()
		if body, err := get(t, url); err != nil || body != "hello" {
			t.Fatalf("GET = %q, %v; want hello", body, err)
		}
	})
	t.Run("gives up after the wait", func(t *testing.T) {
		t.Parallel()
		_, url := startRelay(t, 200*time.Millisecond)
		if body, err := get(t, url); err == nil {
			t.Fatalf("GET = %q, want an error with no tunnel", body)
		}
	})
}
