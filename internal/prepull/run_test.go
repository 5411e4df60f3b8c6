package prepull

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// gatedPuller lets a test see each pull start and decide when it ends.
type gatedPuller struct {
	mu       sync.Mutex
	inFlight int
	maxSeen  int
	started  chan string
	release  chan struct{}
	fail     map[string]bool
}

func (g *gatedPuller) Pull(ctx context.Context, ref string) (int64, error) {
	g.mu.Lock()
	g.inFlight++
	g.maxSeen = max(g.maxSeen, g.inFlight)
	g.mu.Unlock()
	g.started <- ref
	<-g.release
	g.mu.Lock()
	g.inFlight--
	g.mu.Unlock()
	if g.fail[ref] {
		return 0, errors.New("manifest unknown")
	}
	return 10, nil
}

// TestRunBounded runs seven pulls two at a time, releasing one whenever
// two run: never more than two at once, in the order given, and the
// failure is reported without stopping the others.
func TestRunBounded(t *testing.T) {
	var refs []string
	for i := range 7 {
		refs = append(refs, fmt.Sprintf("img%d:v1", i))
	}
	g := &gatedPuller{started: make(chan string), release: make(chan struct{}), fail: map[string]bool{"img3:v1": true}}
	var last Status
	done := make(chan Result)
	go func() {
		done <- Run(context.Background(), g, refs, Options{Parallel: 2, Report: func(s Status) { last = s }})
	}()
	var order []string
	order = append(order, <-g.started, <-g.started)
	for len(order) < len(refs) {
		g.release <- struct{}{}
		order = append(order, <-g.started)
	}
	g.release <- struct{}{}
	g.release <- struct{}{}
	res := <-done
	if g.maxSeen != 2 {
		t.Errorf("%d pulls at once, want 2", g.maxSeen)
	}
	for i := 2; i < len(order); i++ {
		if order[i] != refs[i] {
			t.Errorf("pull %d was %s, want %s (install order)", i, order[i], refs[i])
		}
	}
	if res.Pulled != 6 || res.Bytes != 60 || len(res.Failed) != 1 {
		t.Errorf("result %+v, want 6 pulled, 60 bytes, 1 failed", res)
	}
	if last.Done != 7 || last.Failed != 1 || last.Bytes != 60 {
		t.Errorf("last status %+v", last)
	}
}

func TestRunStopsStartingWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	g := &gatedPuller{started: make(chan string), release: make(chan struct{})}
	if res := Run(ctx, g, []string{"a", "b"}, Options{}); res.Pulled != 0 || len(res.Failed) != 0 {
		t.Errorf("result %+v, want nothing started", res)
	}
}
