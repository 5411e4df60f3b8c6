package cli

import (
	"bytes"
	"os"
	"testing"
)

func TestHandleInterrupts(t *testing.T) {
	t.Parallel()
	sigs := make(chan os.Signal, 2)
	cancelled := make(chan struct{})
	exited := make(chan int, 1)
	var stderr bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		HandleInterrupts(sigs, func() { close(cancelled) }, &stderr, func(code int) { exited <- code })
	}()
	sigs <- os.Interrupt
	<-cancelled
	select {
	case code := <-exited:
		t.Fatalf("exited with %d after the first Ctrl-C", code)
	default:
	}
	sigs <- os.Interrupt
	<-done
	if code := <-exited; code != 130 {
		t.Errorf("second Ctrl-C exits with %d, want 130", code)
	}
	if stderr.String() != "\nStopping cleanly; Ctrl-C again quits at once.\n" {
		t.Errorf("stderr %q", stderr.String())
	}
}
