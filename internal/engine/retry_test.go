package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clocktesting "k8s.io/utils/clock/testing"
)

// TestRetryTransient: the one retry every write uses (server-side apply,
// Helm install, upgrade, uninstall) rides out what an API server restart
// returns, gives up at once on what time does not fix, and after
// retryBudget returns the last transient error.
func TestRetryTransient(t *testing.T) {
	t.Parallel()
	refused := fmt.Errorf("helm install: Kubernetes cluster unreachable: Get \"https://127.0.0.1:6443/version\": dial tcp 127.0.0.1:6443: connect: connection refused")
	unavailable := apierrors.NewServiceUnavailable("the server is currently unable to handle the request")
	invalid := apierrors.NewInvalid(schema.GroupKind{Kind: "Deployment"}, "x", nil)
	tests := []struct {
		name  string
		errs  []error // returned by the attempts in turn; then nil
		never bool    // the errors repeat for ever
		want  error
		calls int
	}{
		{name: "API server restarting, then up", errs: []error{refused, unavailable, refused}, calls: 4},
		{name: "refused for good", errs: []error{refused}, never: true, want: refused},
		{name: "invalid object", errs: []error{invalid}, want: invalid, calls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := clocktesting.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
			e := &Engine{clock: clk, log: slog.New(slog.DiscardHandler)}
			calls := 0
			done := make(chan error, 1)
			go func() {
				done <- e.retryTransient(context.Background(), "test", func(context.Context) error {
					calls++
					switch {
					case calls <= len(tt.errs):
						return tt.errs[calls-1]
					case tt.never:
						return tt.errs[len(tt.errs)-1]
					}
					return nil
				})
			}()
			for {
				select {
				case err := <-done:
					if !errors.Is(err, tt.want) {
						t.Fatalf("retryTransient: %v, want %v", err, tt.want)
					}
					if tt.calls != 0 && calls != tt.calls {
						t.Errorf("%d attempts, want %d", calls, tt.calls)
					}
					if tt.never && clk.Since(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) < retryBudget {
						t.Errorf("gave up after %s of retries, before the budget %s", clk.Since(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)), retryBudget)
					}
					return
				default:
				}
				if clk.HasWaiters() {
					clk.Step(50 * time.Millisecond)
				} else {
					time.Sleep(time.Millisecond)
				}
			}
		})
	}
}
