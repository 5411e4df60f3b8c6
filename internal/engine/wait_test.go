package engine

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	clocktesting "k8s.io/utils/clock/testing"
)

// TestPoll drives the one wait primitive with a fake clock: the pauses
// grow by half up to the maximum, the budget is the clock's, and no real
// time passes.
func TestPoll(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name    string
		budget  time.Duration
		doneAt  int // the call that reports done; 0: never
		want    error
		pauses  []time.Duration
		calls   int
		failsAt int // the call that fails
	}{
		{name: "ready at once", budget: time.Second, doneAt: 1, calls: 1},
		{name: "ready on the fourth look", budget: time.Minute, doneAt: 4, calls: 4,
			pauses: []time.Duration{50 * time.Millisecond, 75 * time.Millisecond, 112500 * time.Microsecond}},
		{name: "budget runs out, pauses capped", budget: 500 * time.Millisecond, want: errBudget, calls: 6,
			// 50+75+112.5+150+112.5 (what was left) = 500ms.
			pauses: []time.Duration{50 * time.Millisecond, 75 * time.Millisecond, 112500 * time.Microsecond, 150 * time.Millisecond, 112500 * time.Microsecond}},
		{name: "cond fails", budget: time.Minute, failsAt: 2, want: errBoom, calls: 2, pauses: []time.Duration{50 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := clocktesting.NewFakeClock(start)
			e := &Engine{clock: clk}
			var pauses []time.Duration
			calls := 0
			last := start
			done := make(chan error, 1)
			go func() {
				done <- e.poll(context.Background(), tt.budget, 150*time.Millisecond, func(context.Context) (bool, error) {
					calls++
					if calls > 1 {
						pauses = append(pauses, clk.Now().Sub(last))
					}
					last = clk.Now()
					if calls == tt.failsAt {
						return false, errBoom
					}
					return calls == tt.doneAt, nil
				})
			}()
			for {
				select {
				case err := <-done:
					if !errors.Is(err, tt.want) {
						t.Fatalf("poll: %v, want %v", err, tt.want)
					}
					if calls != tt.calls {
						t.Errorf("%d calls, want %d", calls, tt.calls)
					}
					if len(pauses) != len(tt.pauses) {
						t.Fatalf("pauses %v, want %v", pauses, tt.pauses)
					}
					for i := range pauses {
						if pauses[i] != tt.pauses[i] {
							t.Errorf("pause %d: %s, want %s", i, pauses[i], tt.pauses[i])
						}
					}
					return
				default:
				}
				// Every pause is a multiple of 12.5ms: step by that while
				// poll waits on its timer, so it fires exactly on time.
				if clk.HasWaiters() {
					clk.Step(12500 * time.Microsecond)
				} else {
					time.Sleep(time.Millisecond) // let poll's goroutine run
				}
			}
		})
	}
}

var errBoom = errors.New("boom")

// TestInferenceServiceCause reads the conditions real KServe wrote for
// demo-iris-2 on the bench (test/real) with Knative's ingress class set to
// Istio's: the likely cause names the ingress class; other states name
// nothing.
func TestInferenceServiceCause(t *testing.T) {
	t.Parallel()
	isvc := func(conds ...map[string]any) *unstructured.Unstructured {
		var cs []any
		for _, c := range conds {
			cs = append(cs, c)
		}
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
			"status": map[string]any{"conditions": cs},
		}}
	}
	cond := func(typ, status, reason string) map[string]any {
		return map[string]any{"type": typ, "status": status, "reason": reason}
	}
	tests := []struct {
		name string
		u    *unstructured.Unstructured
		want string
	}{
		{"no ingress takes the route", isvc(
			cond("IngressReady", "Unknown", ""),
			cond("PredictorReady", "Unknown", "IngressNotConfigured"),
			cond("PredictorRouteReady", "Unknown", "IngressNotConfigured"),
			cond("Ready", "Unknown", "IngressNotConfigured")),
			"PredictorReady is Unknown, IngressNotConfigured: no ingress controller took its Knative Ingress, as when Knative's ingress class"},
		{"revision not ready yet", isvc(cond("PredictorReady", "Unknown", "RevisionMissing"), cond("Ready", "Unknown", "RevisionMissing")), ""},
		{"no status yet", isvc(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := inferenceServiceCause(tt.u)
			if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Errorf("cause %q, want %q", got, tt.want)
			}
		})
	}
}
