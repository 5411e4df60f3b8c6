package main

import (
	"testing"
	"time"
)

const mbit = 1e6 / 8 // bytes per second of 1 Mbit/s

// TestPullModel checks the arithmetic of the shared link: 50 Mbit/s is
// 6.25 MB/s; alone a 62.5 MB image takes 10 s; two at once share it.
func TestPullModel(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	sec := func(d time.Duration) float64 { return d.Seconds() }

	t.Run("one image alone", func(t *testing.T) {
		m := newPullModel(50*mbit, t0)
		if m.request(t0, "n/a", 62_500_000) {
			t.Fatal("cold node has the image")
		}
		if d, ok := m.next(); !ok || sec(d) != 10 {
			t.Fatalf("next %v %v, want 10s", d, ok)
		}
		if done := m.advance(at(9.9)); len(done) != 0 {
			t.Fatalf("done early: %v", done)
		}
		if done := m.advance(at(10)); len(done) != 1 || !m.has("n/a") {
			t.Fatalf("done %v, want a at 10 s", done)
		}
	})
	t.Run("two images share the link", func(t *testing.T) {
		// 62.5 MB and 125 MB from 0: the small one at 3.125 MB/s ends at
		// 20 s; the big one then has 62.5 MB left at full speed: 30 s.
		m := newPullModel(50*mbit, t0)
		m.request(t0, "n/small", 62_500_000)
		m.request(t0, "n/big", 125_000_000)
		if d, _ := m.next(); sec(d) != 20 {
			t.Fatalf("first done after %v, want 20s", d)
		}
		done := m.advance(at(25))
		if len(done) != 1 || done[0].key != "n/small" {
			t.Fatalf("done by 25 s: %v", done)
		}
		if d, _ := m.next(); sec(d) != 5 {
			t.Fatalf("big done %v after 25 s, want 5s", d)
		}
		if done := m.advance(at(30)); len(done) != 1 || done[0].key != "n/big" {
			t.Fatalf("done by 30 s: %v", done)
		}
	})
	t.Run("a late transfer slows the first", func(t *testing.T) {
		// a (62.5 MB) alone for 4 s: 25 MB; then b (12.5 MB) joins: both
		// at 3.125 MB/s, b ends after 4 s (at 8 s) with a at 37.5 MB; a's
		// last 25 MB take 4 s more: 12 s in all, 2 s later than alone.
		m := newPullModel(50*mbit, t0)
		m.request(t0, "n/a", 62_500_000)
		m.request(at(4), "n/b", 12_500_000)
		done := m.advance(at(8))
		if len(done) != 1 || done[0].key != "n/b" {
			t.Fatalf("done by 8 s: %v", done)
		}
		if d, _ := m.next(); sec(d) != 4 {
			t.Fatalf("a done %v after 8 s, want 4s", d)
		}
	})
	t.Run("cache hits and joined pulls", func(t *testing.T) {
		m := newPullModel(50*mbit, t0)
		m.request(t0, "n/a", 62_500_000)
		// A second pod for the same image joins the transfer: still 10 s.
		if m.request(at(5), "n/a", 62_500_000) {
			t.Fatal("in-flight image reported cached")
		}
		if d, _ := m.next(); sec(d) != 5 {
			t.Fatalf("joined pull done after %v, want 5s", d)
		}
		m.advance(at(10))
		if !m.request(at(11), "n/a", 62_500_000) {
			t.Fatal("pulled image not cached")
		}
		// Another node has its own cache.
		if m.request(at(11), "other/a", 62_500_000) {
			t.Fatal("image cached on a node that never pulled it")
		}
		if _, ok := m.next(); !ok {
			t.Fatal("other node's pull not in flight")
		}
	})
}
