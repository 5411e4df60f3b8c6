package runlock

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
)

// fast timing keeps waits short; the fake clientset answers at once.
func fast(o Options) Options {
	o.LeaseDuration, o.RenewDeadline, o.RetryPeriod = 3*time.Second, 2*time.Second, 100*time.Millisecond
	return o
}

func holder(t *testing.T, cs kubernetes.Interface) string {
	t.Helper()
	l, err := cs.CoordinationV1().Leases("neuroscale-system").Get(context.Background(), Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

func TestHolderRoundTrip(t *testing.T) {
	t.Parallel()
	h := Holder{Host: "laptop", PID: 4242, Started: time.Date(2026, 11, 30, 8, 40, 0, 0, time.UTC)}
	got, ok := ParseHolder(h.String())
	if !ok || got != h {
		t.Fatalf("ParseHolder(%q) = %+v, %v", h.String(), got, ok)
	}
	if _, ok := ParseHolder("some-controller-xyz"); ok {
		t.Error("a foreign identity parsed as a neuroscale holder")
	}
}

// TestSecondRunWaitsOrFails: while one run holds the lock, a second one
// fails at once with --no-wait naming the holder, or waits (saying for
// whom) and gets the lock once the first releases it.
func TestSecondRunWaitsOrFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cs := fake.NewClientset()
	first := Holder{Host: "laptop", PID: 1, Started: time.Now().Truncate(time.Second)}
	// pid 1 always runs, so the first holder is live on any host.
	l1, _, err := Acquire(ctx, cs, fast(Options{Self: &first}))
	if err != nil {
		t.Fatal(err)
	}
	if got := holder(t, cs); got != first.String() {
		t.Fatalf("lease holder %q, want %q", got, first.String())
	}

	second := Self()
	_, _, err = Acquire(ctx, cs, fast(Options{Self: &second, NoWait: true}))
	var held *HeldError
	if !errors.As(err, &held) || !strings.Contains(err.Error(), "neuroscale up on laptop (pid 1") {
		t.Fatalf("second run with NoWait: %v; want a HeldError naming the first run", err)
	}

	waiting := make(chan string, 1)
	got := make(chan error, 1)
	var l2 *Lock
	go func() {
		var err error
		l2, _, err = Acquire(ctx, cs, fast(Options{Self: &second, Waiting: func(h string) { waiting <- h }}))
		got <- err
	}()
	select {
	case h := <-waiting:
		if !strings.Contains(h, "pid 1") {
			t.Errorf("waiting message names %q, want the first run", h)
		}
	case err := <-got:
		t.Fatalf("second run did not wait: %v", err)
	}
	l1.Release()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if h := holder(t, cs); h != second.String() {
		t.Errorf("after the first released, holder %q, want the second run", h)
	}
	l2.Release()
	if h := holder(t, cs); h != "" {
		t.Errorf("after release, holder %q, want none", h)
	}
}

// TestDeadHolderTakenOverAtOnce: a run killed with SIGKILL leaves its
// lease behind; the next run on the same host sees its process is gone and
// takes the lock without waiting for the lease to expire.
func TestDeadHolderTakenOverAtOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("no true command:", err)
	}
	self := Self()
	dead := Holder{Host: self.Host, PID: cmd.Process.Pid, Started: time.Now().Truncate(time.Second)}
	id, now, dur := dead.String(), metav1.NewMicroTime(time.Now()), int32(3600)
	cs := fake.NewClientset(&coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: "neuroscale-system", Name: Name},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &id, RenewTime: &now, AcquireTime: &now, LeaseDurationSeconds: &dur},
	})
	if live, err := LiveHolder(ctx, cs, "neuroscale-system", self); err != nil || live != "" {
		t.Fatalf("LiveHolder = %q, %v; want none: the holder's process is gone", live, err)
	}
	waited := false
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	l, _, err := Acquire(tctx, cs, fast(Options{Self: &self, NoWait: true, Waiting: func(string) { waited = true }}))
	if err != nil {
		t.Fatalf("a dead holder blocked the run: %v", err)
	}
	defer l.Release()
	if waited {
		t.Error("the run waited for a holder whose process is gone")
	}
	if h := holder(t, cs); h != self.String() {
		t.Errorf("holder %q, want this run", h)
	}
}

// TestLiveHolderOnAnotherHost: a holder on another host that renews is
// live; one that stopped renewing long ago is not.
func TestLiveHolderOnAnotherHost(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	other := Holder{Host: "elsewhere", PID: 7, Started: time.Now().Truncate(time.Second)}
	for _, tc := range []struct {
		name    string
		renewed time.Duration
		live    bool
	}{{"renewing", 0, true}, {"stopped renewing", -10 * time.Minute, false}} {
		id, at, dur := other.String(), metav1.NewMicroTime(time.Now().Add(tc.renewed)), int32(60)
		cs := fake.NewClientset(&coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Namespace: "neuroscale-system", Name: Name},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: &id, RenewTime: &at, LeaseDurationSeconds: &dur},
		})
		got, err := LiveHolder(ctx, cs, "neuroscale-system", Self())
		if err != nil {
			t.Fatal(err)
		}
		if (got != "") != tc.live {
			t.Errorf("%s: LiveHolder = %q, want live=%v", tc.name, got, tc.live)
		}
	}
}
