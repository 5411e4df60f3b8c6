// Package runlock lets one `neuroscale up` at a time change a cluster. Two
// runs at once both failed with "release: already exists", and the later
// one uninstalled the earlier one's live ArgoCD install as if an
// interrupted run had left it. The lock is a coordination.k8s.io Lease in
// neuroscale-system, taken and renewed with client-go's leader election for
// the whole run and released at its end. Its holder names the host, the pid
// and the start time of the run, so a waiting run says whom it waits for,
// and a holder on this host whose process is gone is taken over at once
// instead of after the lease expires.
package runlock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Name is the Lease that guards `up`.
const Name = "neuroscale-up"

// Timing of the lease. The lease must outlive an API server restart (a
// run that cannot renew for RenewDeadline stops, to never act beside
// another), so these are longer than client-go's controller defaults; a
// holder that died on this host is taken over at once anyway.
const (
	LeaseDuration = 60 * time.Second
	RenewDeadline = 45 * time.Second
	RetryPeriod   = 5 * time.Second
)

// ErrLost is the cause of a run's context when its lease could not be
// renewed: another run may take over, so this one stops changing things.
var ErrLost = errors.New("lost the lock on the cluster (its lease could not be renewed in time)")

// Holder identifies one run.
type Holder struct {
	Host    string
	PID     int
	Started time.Time
}

// String is the lease's holder identity: "host=H pid=P started=T".
func (h Holder) String() string {
	return fmt.Sprintf("host=%s pid=%d started=%s", h.Host, h.PID, h.Started.UTC().Format(time.RFC3339))
}

// Describe is the holder for a message.
func (h Holder) Describe() string {
	return fmt.Sprintf("neuroscale up on %s (pid %d, started %s)", h.Host, h.PID, h.Started.Local().Format("15:04:05"))
}

// ParseHolder reads an identity written by Holder.String.
func ParseHolder(s string) (Holder, bool) {
	var h Holder
	n := 0
	for _, f := range strings.Fields(s) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		switch k {
		case "host":
			h.Host, n = v, n+1
		case "pid":
			if p, err := strconv.Atoi(v); err == nil {
				h.PID, n = p, n+1
			}
		case "started":
			if t, err := time.Parse(time.RFC3339, v); err == nil {
				h.Started, n = t, n+1
			}
		}
	}
	return h, n == 3
}

// Self is the holder of this process.
func Self() Holder {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	started, _ := processStart(os.Getpid())
	if started.IsZero() {
		started = time.Now()
	}
	return Holder{Host: host, PID: os.Getpid(), Started: started.Truncate(time.Second)}
}

// Options tune Acquire.
type Options struct {
	// Namespace holds the Lease (default neuroscale-system).
	Namespace string
	// NoWait fails at once when another live run holds the lock.
	NoWait bool
	// Waiting is called when the run starts to wait, with the holder.
	Waiting func(holder string)
	// Log receives debug lines; nil discards them.
	Log *slog.Logger
	// Self overrides this process's identity (tests).
	Self *Holder
	// LeaseDuration, RenewDeadline and RetryPeriod override the package's
	// timing when set (tests).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

// Lock is a held run lock.
type Lock struct {
	self   Holder
	cancel context.CancelFunc
	done   chan struct{}
	lost   chan struct{}
	once   sync.Once
}

// HeldError says that another live run holds the lock (with NoWait).
type HeldError struct {
	Holder string
}

func (e *HeldError) Error() string {
	return "another run is changing this cluster: " + describe(e.Holder)
}

// Hint says what to do.
func (e *HeldError) Hint() string {
	return "wait for it to finish, or run up without --no-wait to wait for it"
}

func describe(identity string) string {
	if h, ok := ParseHolder(identity); ok {
		return h.Describe()
	}
	return identity
}

// Acquire takes the run lock, waiting while another live run holds it
// (unless NoWait), and keeps renewing it until Release. The returned
// context is ctx, cancelled with ErrLost as cause should the lease be lost:
// run everything the lock guards under it.
func Acquire(ctx context.Context, cs kubernetes.Interface, o Options) (*Lock, context.Context, error) {
	if o.Namespace == "" {
		o.Namespace = "neuroscale-system"
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	self := Self()
	if o.Self != nil {
		self = *o.Self
	}
	if err := ensureNamespace(ctx, cs, o.Namespace); err != nil {
		return nil, nil, err
	}
	rl := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: o.Namespace, Name: Name},
		Client:     cs.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: self.String()},
	}
	held, err := takeOverDead(ctx, rl, self, log)
	if err != nil {
		return nil, nil, err
	}
	if held != "" && o.NoWait {
		return nil, nil, &HeldError{Holder: held}
	}

	runCtx, cancelRun := context.WithCancelCause(ctx)
	electCtx, cancelElect := context.WithCancel(context.WithoutCancel(ctx))
	l := &Lock{self: self, cancel: cancelElect, done: make(chan struct{}), lost: make(chan struct{})}
	acquired := make(chan struct{})
	var waitedFor sync.Once
	el, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            rl,
		LeaseDuration:   or(o.LeaseDuration, LeaseDuration),
		RenewDeadline:   or(o.RenewDeadline, RenewDeadline),
		RetryPeriod:     or(o.RetryPeriod, RetryPeriod),
		ReleaseOnCancel: true,
		Name:            Name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) { close(acquired) },
			OnStoppedLeading: func() {
				select {
				case <-acquired:
					l.once.Do(func() { close(l.lost) })
					cancelRun(ErrLost)
				default:
				}
			},
			OnNewLeader: func(identity string) {
				if identity != self.String() && identity != "" && o.Waiting != nil {
					waitedFor.Do(func() { o.Waiting(describe(identity)) })
				}
			},
		},
	})
	if err != nil {
		cancelElect()
		cancelRun(nil)
		return nil, nil, fmt.Errorf("run lock: %w", err)
	}
	go func() {
		defer close(l.done)
		el.Run(electCtx)
	}()
	select {
	case <-acquired:
		log.Debug("run lock acquired", "lease", o.Namespace+"/"+Name, "holder", self.String())
		return l, runCtx, nil
	case <-ctx.Done():
		cancelElect()
		<-l.done
		cancelRun(nil)
		return nil, nil, fmt.Errorf("waiting for the lock on the cluster: %w", context.Cause(ctx))
	}
}

// Release gives the lock up (the Lease's holder is cleared, so the next
// run need not wait for it to expire) and waits until that is done.
func (l *Lock) Release() {
	if l == nil {
		return
	}
	l.cancel()
	<-l.done
}

// Lost is closed when the lease could not be renewed.
func (l *Lock) Lost() <-chan struct{} { return l.lost }

// Holder is this run's identity in the lease.
func (l *Lock) Holder() Holder { return l.self }

// takeOverDead looks at the lease before taking part in the election: it
// clears the holder when that holder is certainly gone (a process of this
// host that no longer runs, or a lease not renewed for twice its duration),
// and returns the holder otherwise ("" when free).
func takeOverDead(ctx context.Context, rl *resourcelock.LeaseLock, self Holder, log *slog.Logger) (string, error) {
	rec, holder, why, err := otherHolder(ctx, rl, self)
	if err != nil || holder != "" || rec == nil || why == "" {
		return holder, err
	}
	log.Debug("taking over the run lock", "holder", rec.HolderIdentity, "why", why)
	free := *rec
	free.HolderIdentity = ""
	if err := rl.Update(ctx, free); err != nil && !apierrors.IsConflict(err) {
		return "", fmt.Errorf("take over the lock of a finished run: %w", err)
	}
	return "", nil
}

// otherHolder reads the lease: holder is another run that may still be
// running, or "". When another run holds it but is certainly gone, holder
// is "" and why says how that is known.
func otherHolder(ctx context.Context, rl *resourcelock.LeaseLock, self Holder) (rec *resourcelock.LeaderElectionRecord, holder, why string, err error) {
	rec, _, err = rl.Get(ctx)
	if apierrors.IsNotFound(err) {
		return nil, "", "", nil
	}
	if err != nil {
		return nil, "", "", fmt.Errorf("read the lock on the cluster: %w", err)
	}
	if rec.HolderIdentity == "" || rec.HolderIdentity == self.String() {
		return rec, "", "", nil
	}
	live, why := holderLive(rec, self.Host, time.Now())
	if live {
		return rec, rec.HolderIdentity, "", nil
	}
	return rec, "", why, nil
}

// holderLive decides whether the run holding rec may still be running.
func holderLive(rec *resourcelock.LeaderElectionRecord, host string, now time.Time) (bool, string) {
	dur := time.Duration(rec.LeaseDurationSeconds) * time.Second
	if !rec.RenewTime.IsZero() && now.Sub(rec.RenewTime.Time) > 2*dur {
		return false, "not renewed since " + rec.RenewTime.UTC().Format(time.RFC3339)
	}
	h, ok := ParseHolder(rec.HolderIdentity)
	if !ok || h.Host != host {
		return true, ""
	}
	if started, running := processStart(h.PID); !running || (!started.IsZero() && absDuration(started.Truncate(time.Second).Sub(h.Started)) > 2*time.Second) {
		return false, fmt.Sprintf("process %d on this host is gone", h.PID)
	}
	return true, ""
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// LiveHolder returns the identity of a run other than self that holds the
// lock and may still be running, or "". Engine code that is about to treat
// a pending Helm release as left by an interrupted run asks this first.
func LiveHolder(ctx context.Context, cs kubernetes.Interface, namespace string, self Holder) (string, error) {
	rl := &resourcelock.LeaseLock{
		LeaseMeta: metav1.ObjectMeta{Namespace: namespace, Name: Name},
		Client:    cs.CoordinationV1(),
	}
	_, holder, _, err := otherHolder(ctx, rl, self)
	return holder, err
}

func ensureNamespace(ctx context.Context, cs kubernetes.Interface, ns string) error {
	_, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err == nil {
		return nil
	}
	if apierrors.IsNotFound(err) {
		_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	}
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s for the lock on the cluster: %w", ns, err)
	}
	return nil
}
