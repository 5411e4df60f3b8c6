package forward

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	tests := []struct {
		name  string
		b     Backoff
		steps []string // "n" = Next, "r" = Reset
		want  []time.Duration
	}{
		{"doubles to the cap (tilt's 50ms..15s)", Backoff{Initial: 50 * ms, Max: 15 * time.Second},
			[]string{"n", "n", "n", "n", "n", "n", "n", "n", "n", "n", "n"},
			[]time.Duration{50 * ms, 100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 6400 * ms, 12800 * ms, 15 * time.Second, 15 * time.Second}},
		{"reset starts over", Backoff{Initial: 50 * ms, Max: time.Second},
			[]string{"n", "n", "n", "r", "n"},
			[]time.Duration{50 * ms, 100 * ms, 200 * ms, 50 * ms}},
		{"backend cap", Backoff{Initial: 50 * ms, Max: time.Second},
			[]string{"n", "n", "n", "n", "n", "n", "n"},
			[]time.Duration{50 * ms, 100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second, time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := tt.b
			var got []time.Duration
			for _, s := range tt.steps {
				if s == "r" {
					b.Reset()
					continue
				}
				got = append(got, b.Next())
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}
