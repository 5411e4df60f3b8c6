// Package platform is `neuroscale up` as one call a newcomer can read from
// top to bottom: Up loads and validates the configuration, checks the
// machine (preflight), reads the secrets, downloads and renders every
// component, validates the rendered platform, and only then creates or
// reuses the cluster, converges the components in dependency order,
// verifies the platform end to end and keeps its port-forwards up.
//
// Nothing is created or changed before every check that can run without a
// cluster has passed: a digest mismatch, a broken platform rule or a busy
// port stops Up before a container or an object exists.
//
// Every phase reports to one progress.Sink from the first second; what is
// not progress (warnings, the plan, the verify report, "ready") goes to a
// Printer. The command layer only maps flags to Options and implements
// the Printer.
package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/neuroscale-dev/neuroscale/internal/diag"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/neuroscale-dev/neuroscale/internal/cluster"
	"github.com/neuroscale-dev/neuroscale/internal/cluster/k3d"
	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/content"
	"github.com/neuroscale-dev/neuroscale/internal/dag"
	"github.com/neuroscale-dev/neuroscale/internal/endpoints"
	"github.com/neuroscale-dev/neuroscale/internal/engine"
	"github.com/neuroscale-dev/neuroscale/internal/forward"
	"github.com/neuroscale-dev/neuroscale/internal/preflight"
	"github.com/neuroscale-dev/neuroscale/internal/prepull"
	"github.com/neuroscale-dev/neuroscale/internal/progress"
	"github.com/neuroscale-dev/neuroscale/internal/render"
	"github.com/neuroscale-dev/neuroscale/internal/runlock"
	"github.com/neuroscale-dev/neuroscale/internal/secrets"
	"github.com/neuroscale-dev/neuroscale/internal/sources"
	"github.com/neuroscale-dev/neuroscale/internal/validate"
	"github.com/neuroscale-dev/neuroscale/internal/verify"
	"github.com/neuroscale-dev/neuroscale/stages"
)

// DefaultForwardWait bounds how long Up waits for its port-forwards to
// open before verifying through what is open.
const DefaultForwardWait = 30 * time.Second

// Options are up's choices; the zero value installs with the defaults,
// verifies, and keeps the forwards up until ctx ends.
type Options struct {
	// Config says where the configuration comes from (file, flags, env).
	Config config.LoadOptions
	// Cluster are the k3d provider's choices (--recreate, --retain).
	Cluster k3d.Options
	// Reapply applies every component even when nothing changed.
	Reapply bool
	// NoVerify skips the end-to-end checks after converging.
	NoVerify bool
	// NoForward returns after verifying instead of supervising the
	// port-forwards until ctx ends.
	NoForward bool
	// PrePull pulls every image of the rendered platform onto the nodes
	// while the components install (package prepull); nil means on for
	// k3d clusters and off for existing ones (--pre-pull).
	PrePull *bool
	// NoWait fails at once when another up holds the lock on the cluster
	// (package runlock), instead of waiting for it.
	NoWait bool
	// ForwardWait bounds the wait for the forwards before verifying
	// (default DefaultForwardWait).
	ForwardWait time.Duration
	// Secrets say how secret values are read: the environment, and a
	// terminal to ask on (nil: never ask).
	Secrets secrets.Options
	// Sink receives an event when each phase and each component's stage
	// starts and ends; nil shows nothing. Up does not close it.
	Sink progress.Sink
	// Printer shows what is not progress; nil shows nothing.
	Printer Printer
	// Log receives debug logs; nil discards them.
	Log *slog.Logger
}

// Printer shows the user what Up has to say beyond progress events. Each
// method is called at most once per run, from Up's goroutine, except
// Warning, which may come from any goroutine.
type Printer interface {
	// Warning is something that does not stop up (an optional secret
	// not set, a platform rule's warning).
	Warning(msg string)
	// Plan is what converging is about to do, before it starts.
	Plan(plan []engine.PlanEntry)
	// Verified is the end-to-end report, passed or not.
	Verified(report verify.Report)
	// Ready is called once the platform converged and, unless NoVerify,
	// passed verification: only then is the platform ready.
	Ready(res *Result)
	// Forwards returns what receives the changes of the named
	// port-forwards, called from the forwards' goroutines.
	Forwards(names []string) func(forward.Event)
}

// Result is what Up did.
type Result struct {
	Profile string
	// Took is the time from the start of Up to Ready.
	Took time.Duration
	// Stages are the components' outcomes, in install order.
	Stages []dag.Result
	// CriticalPath is the longest chain of stages (or of their phases,
	// "stage/step") through their needs, and CriticalTook its summed
	// work: the least time any schedule of this install could take.
	CriticalPath []string
	CriticalTook time.Duration
	// Endpoints are the URLs the forwards serve, what each is for and how
	// to sign in.
	Endpoints []endpoints.Endpoint
	// Verified is false with NoVerify.
	Verified bool
}

// Up installs or updates the platform and, unless NoForward, keeps its
// port-forwards up until ctx ends. It returns a *VerifyError when the
// platform converged but failed verification, also when ctx ended after
// that (Ctrl-C while forwarding).
func Up(ctx context.Context, o Options) (*Result, error) {
	u := newRun(o)
	start := time.Now()

	var r *config.Resolved
	if err := u.phase(ctx, progress.PhaseConfig, func(ctx context.Context) (err error) {
		r, err = config.LoadContext(ctx, o.Config)
		return err
	}); err != nil {
		return nil, err
	}
	if r.ProviderNote != "" {
		u.print.Warning(r.ProviderNote)
	}
	for _, w := range r.Warnings {
		u.print.Warning(w.Text())
	}
	if err := u.phase(ctx, progress.PhasePreflight, func(ctx context.Context) error {
		return preflight.Run(ctx, r, preflight.Options{Log: u.log})
	}); err != nil {
		return nil, err
	}
	var prep *secrets.Prepared
	if err := u.phase(ctx, progress.PhaseSecrets, func(ctx context.Context) (err error) {
		prep, err = u.prepareSecrets(ctx, r)
		return err
	}); err != nil {
		return nil, err
	}
	p, err := u.render(ctx, r, prep)
	if err != nil {
		return nil, err
	}
	if err := u.phase(ctx, progress.PhaseValidate, func(context.Context) error {
		return u.checkPlatform(r, p)
	}); err != nil {
		return nil, err
	}

	// Every check that needs no cluster has passed: from here on things
	// are created.
	var access *cluster.Access
	if err := u.phase(ctx, progress.PhaseCluster, func(ctx context.Context) (err error) {
		// The k3d provider's slow steps (image cache, creating or starting
		// the cluster) show as phases of their own.
		k3dOpts := o.Cluster
		k3dOpts.Step = func(name string) func(error) {
			end := u.begin(name)
			return func(err error) { end(ctx, err) }
		}
		access, err = Provider(r, u.log, k3dOpts).Ensure(ctx)
		return err
	}); err != nil {
		return nil, err
	}
	stopPull := u.prePull(ctx, r, p, access.REST)
	report, err := u.convergeLocked(ctx, r, p, prep, access.REST)
	stopPull()
	if err != nil {
		return nil, err
	}
	res := &Result{Profile: r.Profile, Stages: report.Stages, Endpoints: endpoints.List(r)}
	res.CriticalPath, res.CriticalTook = report.CriticalPath()
	finish := func() {
		res.Took = time.Since(start)
		u.print.Ready(res)
	}
	if o.NoVerify {
		finish()
		if o.NoForward || len(r.Forwards) == 0 {
			return res, nil
		}
		return res, u.supervise(ctx, r, access.REST, nil)
	}
	if o.NoForward || len(r.Forwards) == 0 {
		// Verify through forwards of its own, for the checks' duration.
		if err := u.phase(ctx, progress.PhaseVerify, func(ctx context.Context) error {
			return u.verifyOwnForwards(ctx, r, access.REST)
		}); err != nil {
			return res, err
		}
		res.Verified = true
		finish()
		return res, nil
	}
	// Verify through the forwards the user keeps: a failure leaves them
	// up to look around, and the run still ends in error.
	var failed error
	err = u.supervise(ctx, r, access.REST, func(s *forward.Supervisor) {
		failed = u.phase(ctx, progress.PhaseVerify, func(ctx context.Context) error {
			wctx, cancel := context.WithTimeout(ctx, u.forwardWait)
			defer cancel()
			if err := s.WaitUp(wctx); err != nil && ctx.Err() == nil {
				u.print.Warning(fmt.Sprintf("not every forward is up yet (%v); verifying what is", err))
			}
			return u.verify(ctx, r, access.REST, s.Endpoints())
		})
		if failed == nil {
			res.Verified = true
			finish()
		}
	})
	return res, errors.Join(failed, err)
}

// run is one Up: its options with defaults, and its phase reporting.
type run struct {
	o           Options
	log         *slog.Logger
	sink        progress.Sink
	print       Printer
	forwardWait time.Duration
	// newPuller makes the pre-pull's puller (default run.puller); tests
	// set it.
	newPuller func(context.Context, *config.Resolved, *rest.Config) (prepull.Puller, func(), error)
}

func newRun(o Options) *run {
	u := &run{o: o, log: o.Log, sink: o.Sink, print: o.Printer, forwardWait: o.ForwardWait}
	if u.log == nil {
		u.log = slog.New(slog.DiscardHandler)
	}
	if u.sink == nil {
		u.sink = progress.Discard
	}
	if u.print == nil {
		u.print = discardPrinter{}
	}
	if u.forwardWait <= 0 {
		u.forwardWait = DefaultForwardWait
	}
	return u
}

// phase runs fn as the named phase: a running event, then done, failed or
// cancelled with its duration.
func (u *run) phase(ctx context.Context, name string, fn func(context.Context) error) error {
	end := u.begin(name)
	err := fn(ctx)
	end(ctx, err)
	return err
}

// begin reports that the named phase started and returns what reports its
// end; for phases that do not fit one function (download and render).
func (u *run) begin(name string) func(ctx context.Context, err error) {
	start := time.Now()
	u.sink.Report(progress.Event{Time: start, Phase: name, State: progress.StateRunning})
	return func(ctx context.Context, err error) {
		now := time.Now()
		e := progress.Event{Time: now, Phase: name, State: progress.StateDone, Duration: now.Sub(start)}
		switch {
		case err == nil:
		case ctx.Err() != nil:
			e.State, e.Message = progress.StateCancelled, "interrupted"
		default:
			e.State, e.Message = progress.StateFailed, err.Error()
		}
		u.sink.Report(e)
	}
}

// render downloads (phase download) and renders (phase render) every
// enabled component, with the secrets' checksums in their consumers' pod
// templates.
func (u *run) render(ctx context.Context, r *config.Resolved, prep *secrets.Prepared) (*render.Platform, error) {
	end := u.begin(progress.PhaseDownload)
	p, err := render.Render(ctx, r, render.Options{
		Log:        u.log,
		Inputs:     content.Inputs{SecretChecksums: prep.Checksums},
		OnDownload: u.downloadProgress(),
		Downloaded: func() {
			end(ctx, nil)
			end = u.begin(progress.PhaseRender)
		},
	})
	if err != nil {
		err = fmt.Errorf("render the platform: %w", err)
	}
	end(ctx, err)
	return p, err
}

// downloadProgress turns the fetcher's progress into running events of
// the download phase: one per file done and per twentieth of the known
// bytes, so -o json shows the downloads without a line per read.
func (u *run) downloadProgress() func(sources.Progress) {
	var mu sync.Mutex
	lastDone, lastStep := -1, int64(-1)
	return func(p sources.Progress) {
		step := int64(-1)
		if p.Total > 0 {
			step = p.Bytes * 20 / p.Total
		}
		mu.Lock()
		same := p.Done == lastDone && step == lastStep
		lastDone, lastStep = p.Done, step
		mu.Unlock()
		if same {
			return
		}
		u.sink.Report(progress.Event{Time: time.Now(), Phase: progress.PhaseDownload, State: progress.StateRunning,
			Message: fmt.Sprintf("%d/%d files", p.Done, p.Files), Bytes: p.Bytes, Total: p.Total})
	}
}

// prepareSecrets reads and checks the secrets before anything changes.
// Keys the cluster's Secret already holds count as set: the cluster is
// read when it can be reached without creating or starting anything (an
// existing cluster; a k3d cluster that is running). A k3d cluster that
// does not exist yet holds nothing.
func (u *run) prepareSecrets(ctx context.Context, r *config.Resolved) (*secrets.Prepared, error) {
	var cfg *rest.Config
	acc, err := Access(r)
	if err == nil {
		cfg = acc.REST
	} else if r.Cluster.Provider != config.ProviderK3d {
		return nil, err
	}
	if cfg != nil && r.Cluster.Provider == config.ProviderK3d && cluster.Probe(ctx, acc) != nil {
		// The context names a k3d cluster that is stopped or gone.
		u.log.Debug("k3d cluster not reachable; reading the secrets without it")
		cfg = nil
	}
	opts := u.o.Secrets
	opts.Log = u.log
	prep, err := secrets.Prepare(ctx, cfg, r, opts)
	if err != nil {
		return nil, err
	}
	for _, w := range prep.Warnings {
		u.print.Warning(w.Text())
	}
	return prep, nil
}

// checkPlatform runs the platform rules on what is about to be applied:
// warnings are printed, errors stop up before anything changes.
func (u *run) checkPlatform(r *config.Resolved, p *render.Platform) error {
	rep := validate.Run(r, p)
	var errs []diag.Diagnostic
	for _, f := range rep.Findings {
		if f.Severity == diag.Error {
			errs = append(errs, f)
		} else {
			u.print.Warning(f.Text())
		}
	}
	if len(errs) > 0 {
		return &diag.Failed{Check: "validate", Diagnostics: errs, Next: invalidPlatformHint}
	}
	return nil
}

// convergeLocked converges while holding the lock on the cluster (package
// runlock): one up at a time changes a cluster. A second run waits, saying
// for whom, or fails at once with NoWait. The lock is released once
// converging ends; verifying and forwarding change nothing.
func (u *run) convergeLocked(ctx context.Context, r *config.Resolved, p *render.Platform, prep *secrets.Prepared, cfg *rest.Config) (*dag.Report, error) {
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	lock, lockCtx, err := runlock.Acquire(ctx, kube, runlock.Options{
		NoWait: u.o.NoWait,
		Log:    u.log,
		Waiting: func(holder string) {
			u.print.Warning(fmt.Sprintf("%s is changing this cluster; waiting for it to finish (--no-wait fails at once instead)", holder))
		},
	})
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	report, err := u.converge(lockCtx, r, p, prep, cfg, lock.Holder())
	if cause := context.Cause(lockCtx); errors.Is(cause, runlock.ErrLost) && ctx.Err() == nil {
		return report, fmt.Errorf("%w: stopped so that no two runs change the cluster at once; run neuroscale up again", cause)
	}
	return report, err
}

// converge installs the rendered components in dependency order (phase
// converge, one stage per component).
func (u *run) converge(ctx context.Context, r *config.Resolved, p *render.Platform, prep *secrets.Prepared, cfg *rest.Config, holder runlock.Holder) (*dag.Report, error) {
	var report *dag.Report
	err := u.phase(ctx, progress.PhaseConverge, func(ctx context.Context) error {
		eng, err := engine.New(cfg, engine.Options{Log: u.log, Reapply: u.o.Reapply, Samples: stages.Samples(), Hooks: u.secretHooks(p, prep), RunHolder: holder})
		if err != nil {
			return err
		}
		if err := eng.Prepare(ctx, r.Profile); err != nil {
			return err
		}
		u.print.Plan(eng.Plan(p))
		if report, err = dag.Run(ctx, stages.Up(eng, p, r), dag.RunOptions{Sink: u.sink, Log: u.log}); err != nil {
			return err
		}
		return eng.Finish(ctx)
	})
	return report, err
}

// secretHooks puts the Secret into the cluster right before the component
// that runs its consumers is applied (its pods read it with envFrom and do
// not start without it), and checks inside the running containers, by
// length only, that the values arrived once that component is Ready.
func (u *run) secretHooks(p *render.Platform, prep *secrets.Prepared) map[string]engine.Hooks {
	hooks := map[string]engine.Hooks{}
	// Readers take the whole Secret with envFrom; consumers read one key.
	// Either way their pods need the Secret to exist, even empty.
	for _, consumer := range append(append([]string(nil), prep.Merged.Readers...), prep.Merged.Consumers()...) {
		ns, name, _ := strings.Cut(consumer, "/")
		for _, c := range p.Components {
			if _, done := hooks[c.Name]; done || !runs(c, ns, name) {
				continue
			}
			hooks[c.Name] = engine.Hooks{
				BeforeApply: func(ctx context.Context, env engine.HookEnv) error { return prep.Apply(ctx, env.REST) },
				AfterReady: func(ctx context.Context, env engine.HookEnv) error {
					warns, err := prep.Verify(ctx, env.REST, env.Log)
					for _, w := range warns {
						u.print.Warning(w.Text())
					}
					return err
				},
			}
		}
	}
	return hooks
}

// runs reports whether c renders the workload ns/name.
func runs(c *render.Component, ns, name string) bool {
	for _, o := range c.Objects() {
		if o.GetNamespace() == ns && o.GetName() == name && (o.GetKind() == "Deployment" || o.GetKind() == "StatefulSet") {
			return true
		}
	}
	return false
}

// Verify runs the end-to-end checks of r's platform through a running
// `neuroscale forward` when one answers on the configured ports, else
// through forwards of its own (waiting up to wait for them) for the
// checks' duration. up without forwards and the verify command call it.
func Verify(ctx context.Context, r *config.Resolved, cfg *rest.Config, wait time.Duration, log *slog.Logger) (verify.Report, error) {
	eps, stop, err := forward.Reach(ctx, forward.Options{REST: cfg, Forwards: VerifyForwards(r), Log: log}, wait)
	if err != nil {
		return verify.Report{}, err
	}
	defer stop()
	return check(ctx, r, cfg, eps)
}

// check runs the end-to-end checks through eps.
func check(ctx context.Context, r *config.Resolved, cfg *rest.Config, eps []forward.Endpoint) (verify.Report, error) {
	o, err := verify.ForPlatform(r, cfg, eps)
	if err != nil {
		return verify.Report{}, err
	}
	return verify.Run(ctx, o), nil
}

// verifyOwnForwards runs Verify and reports it (see verified).
func (u *run) verifyOwnForwards(ctx context.Context, r *config.Resolved, cfg *rest.Config) error {
	rep, err := Verify(ctx, r, cfg, u.forwardWait, u.log)
	return u.verified(rep, err)
}

// verify runs the end-to-end checks through eps and reports them (see
// verified).
func (u *run) verify(ctx context.Context, r *config.Resolved, cfg *rest.Config, eps []forward.Endpoint) error {
	rep, err := check(ctx, r, cfg, eps)
	return u.verified(rep, err)
}

// verified hands a report to the printer; a failed check is a
// *VerifyError.
func (u *run) verified(rep verify.Report, err error) error {
	if err != nil {
		return err
	}
	u.print.Verified(rep)
	if rep.Failed() {
		return &VerifyError{Report: rep}
	}
	return nil
}

// supervise opens r's forwards (phase forward), runs then (when not nil)
// while they are up, and keeps them up until ctx ends (Ctrl-C).
func (u *run) supervise(ctx context.Context, r *config.Resolved, cfg *rest.Config, then func(*forward.Supervisor)) error {
	end := u.begin(progress.PhaseForward)
	names := make([]string, len(r.Forwards))
	for i, f := range r.Forwards {
		names[i] = f.Name
	}
	s, err := forward.New(forward.Options{REST: cfg, Forwards: r.Forwards, Log: u.log, OnEvent: u.print.Forwards(names)})
	if err != nil {
		end(ctx, err)
		return err
	}
	stop := s.Start(ctx)
	if then != nil {
		then(s)
	}
	<-ctx.Done()
	stop()
	// The user ended the forwarding: that is how this phase finishes.
	end(context.Background(), nil)
	return nil
}

// VerifyForwards are the forwards verify's requests go through.
func VerifyForwards(r *config.Resolved) []config.Forward {
	var fwds []config.Forward
	for _, f := range []*config.Forward{verify.BackstageForward(r), verify.PredictorForward(r)} {
		if f != nil {
			fwds = append(fwds, *f)
		}
	}
	return fwds
}

// Provider picks the cluster provider the configuration names; `up` and
// `down` use it.
func Provider(r *config.Resolved, log *slog.Logger, opts k3d.Options) cluster.Provider {
	if r.Cluster.Provider == config.ProviderK3d {
		return k3d.New(r, log, opts)
	}
	return cluster.NewExisting(r)
}

// Access reaches the platform's cluster without creating or changing
// anything: the kubeconfig and context of the configuration, and for k3d
// the context k3d names after the cluster (k3d-NAME) when none is set.
// The commands that look at a running platform use it.
func Access(r *config.Resolved) (*cluster.Access, error) {
	ctxName := r.Cluster.Context
	if ctxName == "" && r.Cluster.Provider == config.ProviderK3d {
		ctxName = k3d.ContextName(r.Cluster.Name)
	}
	acc, err := cluster.LoadAccess(r.Cluster.Kubeconfig, ctxName)
	if err != nil {
		return nil, &NoAccessError{Err: err}
	}
	return acc, nil
}

type discardPrinter struct{}

func (discardPrinter) Warning(string)                        {}
func (discardPrinter) Plan([]engine.PlanEntry)               {}
func (discardPrinter) Verified(verify.Report)                {}
func (discardPrinter) Ready(*Result)                         {}
func (discardPrinter) Forwards([]string) func(forward.Event) { return func(forward.Event) {} }
