package forward

import "time"

// Backoff is the delay before the next attempt to re-open a forward: it
// starts at Initial, doubles on every failure up to Max, and starts over
// after Reset (tilt's port-forward policy: a flapping target is not
// hammered, a forward that stayed up gets a fast first retry again).
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
	next    time.Duration
}

// Next returns the delay to wait now and doubles the one after it.
func (b *Backoff) Next() time.Duration {
	if b.next == 0 {
		b.next = b.Initial
	}
	d := b.next
	b.next = min(2*b.next, b.Max)
	return d
}

// Reset makes the next delay Initial again.
func (b *Backoff) Reset() { b.next = 0 }
