package main

import (
	"math"
	"sort"
	"time"
)

// pullModel is the laptop's network as the pulls see it: one link of a
// fixed bandwidth shared equally by the transfers in flight (as parallel
// TCP downloads from one link roughly share it), and a cache per node of
// the images that are there. Time is given by the caller, so the
// arithmetic is tested without waiting.
type pullModel struct {
	// bytesPerSecond is the link's bandwidth.
	bytesPerSecond float64
	cached         map[string]bool      // node/image on the node
	flight         map[string]*transfer // node/image being pulled
	last           time.Time
}

type transfer struct {
	key   string
	left  float64 // bytes still to come
	size  int64
	start time.Time
}

func newPullModel(bytesPerSecond float64, now time.Time) *pullModel {
	return &pullModel{bytesPerSecond: bytesPerSecond, cached: map[string]bool{}, flight: map[string]*transfer{}, last: now}
}

// pullKey names an image on a node: each node has its own cache.
func pullKey(node, image string) string { return node + "/" + image }

// request asks for key (pullKey) of size bytes at now: true when the node
// has it; otherwise a transfer starts, unless one is in flight already.
func (m *pullModel) request(now time.Time, key string, size int64) (cached bool) {
	m.advance(now)
	if m.cached[key] {
		return true
	}
	if _, ok := m.flight[key]; !ok {
		if size <= 0 {
			m.cached[key] = true
			return true
		}
		m.flight[key] = &transfer{key: key, left: float64(size), size: size, start: now}
	}
	return false
}

// has reports whether the node holds key.
func (m *pullModel) has(key string) bool { return m.cached[key] }

// advance moves the transfers on to now and returns those that finished,
// in the order they finished. Each in-flight transfer gets an equal share
// of the bandwidth; when one finishes, the others' shares grow from that
// instant on.
func (m *pullModel) advance(now time.Time) []*transfer {
	var done []*transfer
	dt := now.Sub(m.last).Seconds()
	if dt < 0 {
		dt = 0
	}
	at := m.last
	m.last = now
	for dt > 0 && len(m.flight) > 0 {
		n := float64(len(m.flight))
		minLeft := math.Inf(1)
		for _, t := range m.flight {
			minLeft = min(minLeft, t.left)
		}
		// Time until the smallest finishes at the current share.
		need := minLeft * n / m.bytesPerSecond
		step := min(need, dt)
		moved := step * m.bytesPerSecond / n
		at = at.Add(time.Duration(step * float64(time.Second)))
		var finished []*transfer
		for _, t := range m.flight {
			t.left -= moved
			// Half a byte absorbs the rounding of moved against minLeft.
			if t.left < 0.5 {
				finished = append(finished, t)
			}
		}
		sort.Slice(finished, func(i, j int) bool { return finished[i].key < finished[j].key })
		for _, t := range finished {
			delete(m.flight, t.key)
			m.cached[t.key] = true
			done = append(done, t)
		}
		dt -= step
	}
	return done
}

// next is how long from the model's last time until the next transfer
// finishes, if nothing else starts; false when nothing is in flight.
func (m *pullModel) next() (time.Duration, bool) {
	if len(m.flight) == 0 {
		return 0, false
	}
	minLeft := math.Inf(1)
	for _, t := range m.flight {
		minLeft = min(minLeft, t.left)
	}
	secs := minLeft * float64(len(m.flight)) / m.bytesPerSecond
	return time.Duration(math.Ceil(secs * float64(time.Second))), true
}
