// Package fault hurts `neuroscale up` on the test cluster and checks that
// nothing is lost: the real binary, built from cmd/neuroscale, is
// interrupted with SIGINT and killed with SIGKILL in the middle of
// installing, the API server is restarted under a running up, and two ups
// run at once. After each fault the next up must converge with no Helm
// release left pending and every record Applied; concurrent runs must
// take turns, not uninstall each other. The measurements (what each run
// did, how long recovery took) are logged.
//
// It uses a reduced platform (cert-manager, Knative Serving, Kourier,
// Kyverno), as the bench's smoke mode does, to keep CI fast.
package fault

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/neuroscale-dev/neuroscale/internal/runlock"
	"github.com/neuroscale-dev/neuroscale/internal/state"
	"github.com/neuroscale-dev/neuroscale/internal/testcluster"
)

// Generous failure signals, not timing assertions.
const (
	upTimeout    = 10 * time.Minute
	eventTimeout = 5 * time.Minute
	exitTimeout  = 2 * time.Minute
)

// enabled are the components the reduced platform installs.
var enabled = []string{"cert-manager", "knative-serving", "kourier", "kyverno"}

// event is one JSON progress line of `up -o json`.
type event struct {
	Phase   string `json:"phase"`
	Stage   string `json:"stage"`
	State   string `json:"state"`
	Message string `json:"message"`
}

// upRun is one running `neuroscale up`.
type upRun struct {
	name    string
	cmd     *exec.Cmd
	started time.Time
	done    chan struct{}
	err     error
	ended   time.Time

	mu     sync.Mutex
	events []event
	stderr bytes.Buffer
	seen   chan struct{} // signalled on every event
}

// bench is the test's cluster, binary and config.
type bench struct {
	c    *testcluster.Cluster
	kube kubernetes.Interface
	bin  string
	cfg  string
	dir  string
}

// start starts up with JSON progress events on standard output, which
// the test follows to pick the moment of a fault.
func (b *bench) start(t *testing.T, name string, args ...string) *upRun {
	t.Helper()
	return b.startUp(t, name, append([]string{"-o", "json"}, args...)...)
}

// startText starts up with text output: its plan ("Applying: ...") and
// warnings on standard error say what it did.
func (b *bench) startText(t *testing.T, name string, args ...string) *upRun {
	t.Helper()
	return b.startUp(t, name, args...)
}

func (b *bench) startUp(t *testing.T, name string, args ...string) *upRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), upTimeout)
	cmd := exec.CommandContext(ctx, b.bin, append([]string{"up", "--no-forward", "--no-verify", "-c", b.cfg}, args...)...)
	cmd.Dir = b.dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	u := &upRun{name: name, cmd: cmd, done: make(chan struct{}), seen: make(chan struct{}, 1)}
	cmd.Stderr = lockedWriter{&u.mu, &u.stderr}
	u.started = time.Now()
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
		for sc.Scan() {
			var e event
			if json.Unmarshal(sc.Bytes(), &e) != nil || e.State == "" {
				continue
			}
			u.mu.Lock()
			u.events = append(u.events, e)
			u.mu.Unlock()
			select {
			case u.seen <- struct{}{}:
			default:
			}
		}
		u.err = cmd.Wait()
		u.ended = time.Now()
		cancel()
		close(u.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-u.done
	})
	return u
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// waitFor waits until an event matches, failing if up ends first.
func (u *upRun) waitFor(t *testing.T, what string, match func(event) bool) {
	t.Helper()
	deadline := time.After(eventTimeout)
	for {
		u.mu.Lock()
		for _, e := range u.events {
			if match(e) {
				u.mu.Unlock()
				return
			}
		}
		u.mu.Unlock()
		select {
		case <-u.seen:
		case <-u.done:
			t.Fatalf("%s ended (%v) before %s; stderr:\n%s", u.name, u.err, what, u.errText())
		case <-deadline:
			t.Fatalf("%s: no %s after %s; stderr:\n%s", u.name, what, eventTimeout, u.errText())
		}
	}
}

func stageRunning(stage string) func(event) bool {
	return func(e event) bool { return e.Stage == stage && e.State == "running" }
}

func anyStageRunning(e event) bool { return e.Stage != "" && e.State == "running" }

// wait waits for up to end and returns its exit code.
func (u *upRun) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-u.done:
	case <-time.After(exitTimeout + upTimeout):
		t.Fatalf("%s did not end", u.name)
	}
	var ee *exec.ExitError
	switch {
	case u.err == nil:
		return 0
	case errors.As(u.err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	t.Fatalf("%s: %v", u.name, u.err)
	return -1
}

// signal sends sig and returns how long up took to end after it.
func (u *upRun) signal(t *testing.T, sig syscall.Signal) (code int, took time.Duration) {
	t.Helper()
	sent := time.Now()
	if err := u.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-u.done:
	case <-time.After(exitTimeout):
		t.Fatalf("%s still runs %s after %s; stderr:\n%s", u.name, exitTimeout, sig, u.errText())
	}
	return u.wait(t), u.ended.Sub(sent)
}

func (u *upRun) errText() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.stderr.String()
}

// did summarises a finished run: its plan line, and what it said about
// interrupted releases, repairs and waiting.
func (u *upRun) did() string {
	var out []string
	for _, line := range strings.Split(u.errText(), "\n") {
		l := strings.ToLower(line)
		if strings.HasPrefix(line, "Applying:") || strings.HasPrefix(line, "Nothing changed") ||
			strings.Contains(l, "interrupted run") || strings.Contains(l, "waiting for it") || strings.HasPrefix(l, "error:") ||
			strings.Contains(l, "retrying") {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return strings.Join(out, " | ")
}

// revision is one stored Helm revision.
type revision struct{ release, version, status string }

// helmRevisions lists every stored Helm revision (storage Secrets'
// labels) and each release's newest revision.
func (b *bench) helmRevisions(t *testing.T) ([]revision, map[string]string) {
	t.Helper()
	list, err := b.kube.CoreV1().Secrets("").List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm"})
	if err != nil {
		t.Fatal(err)
	}
	var all []revision
	newest := map[string]string{}
	for _, s := range list.Items {
		r := revision{release: s.Namespace + "/" + s.Labels["name"], version: s.Labels["version"], status: s.Labels["status"]}
		all = append(all, r)
		if newer(r.version, newest[r.release]) {
			newest[r.release] = r.version
		}
	}
	return all, newest
}

// pendingReleases lists Helm revisions that are pending: with history
// true every revision, else only each release's newest (what blocks the
// next Helm operation).
func (b *bench) pendingReleases(t *testing.T, history bool) []string {
	t.Helper()
	all, newest := b.helmRevisions(t)
	var out []string
	for _, r := range all {
		if !history && r.version != newest[r.release] {
			continue
		}
		if strings.HasPrefix(r.status, "pending") || r.status == "uninstalling" {
			out = append(out, fmt.Sprintf("%s v%s %s", r.release, r.version, r.status))
		}
	}
	return out
}

// assertConverged checks that nothing is pending, every enabled component
// is recorded Applied and the lock is free.
func (b *bench) assertConverged(t *testing.T, after string) {
	t.Helper()
	// Not even in the history: an interrupted revision is marked
	// superseded once it is rolled back.
	if p := b.pendingReleases(t, true); len(p) > 0 {
		t.Errorf("after %s, Helm revisions are pending: %v", after, p)
	}
	recs, err := state.NewStore(b.kube, "").Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range enabled {
		if r := recs[c]; r == nil || r.Phase != state.Applied {
			t.Errorf("after %s, %s is not recorded Applied (%+v)", after, c, r)
		}
	}
	lease, err := b.kube.CoordinationV1().Leases(state.Namespace).Get(context.Background(), runlock.Name, metav1.GetOptions{})
	if err != nil {
		t.Errorf("after %s, the run lock is missing: %v", after, err)
	} else if h := lease.Spec.HolderIdentity; h != nil && *h != "" {
		t.Errorf("after %s, the run lock is still held by %s", after, *h)
	}
}

func setup(t *testing.T) *bench {
	t.Helper()
	if testing.Short() {
		t.Skip("fault test skipped in -short mode")
	}
	if reason := testcluster.CanBuild(); reason != "" {
		t.Skip(reason)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testcluster.StartTimeout)
	defer cancel()
	c, err := testcluster.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	dir := t.TempDir()
	bin := testcluster.BuildNeuroscale(t, dir)
	var disabled strings.Builder
	for _, n := range []string{"kserve", "argocd", "backstage", "demo"} {
		fmt.Fprintf(&disabled, "  %s: {enabled: false}\n", n)
	}
	cfg := c.WriteConfig(t, filepath.Join(dir, "neuroscale.yaml"), "", "components:\n"+disabled.String())
	return &bench{c: c, kube: c.Client(t), bin: bin, cfg: cfg, dir: dir}
}

// measurement is one fault and what followed it.
type measurement struct {
	fault    string
	stopped  string        // how the hurt run ended
	recovery time.Duration // the next up, start to end
	did      string        // what the next up said it did
}

// recover runs up to the end, asserts it converged, and measures it.
func (b *bench) recover(t *testing.T, name, fault, stopped string, args ...string) measurement {
	t.Helper()
	u := b.startText(t, name, args...)
	if code := u.wait(t); code != 0 {
		t.Fatalf("%s after %s exited %d; stderr:\n%s", name, fault, code, u.errText())
	}
	b.assertConverged(t, name)
	return measurement{fault: fault, stopped: stopped, recovery: u.ended.Sub(u.started), did: u.did()}
}

// waitPending polls until a Helm release is pending: the moment a kill
// leaves the most to clean up.
func (b *bench) waitPending(t *testing.T, u *upRun) string {
	t.Helper()
	deadline := time.Now().Add(eventTimeout)
	for time.Now().Before(deadline) {
		if p := b.pendingReleases(t, false); len(p) > 0 {
			return p[0]
		}
		select {
		case <-u.done:
			t.Fatalf("%s ended (%v) before any release was pending; stderr:\n%s", u.name, u.err, u.errText())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("%s: no release pending after %s", u.name, eventTimeout)
	return ""
}

// TestUpSurvivesFaults interrupts up at several points, restarts the API
// server under a running up, then runs two ups at once.
func TestUpSurvivesFaults(t *testing.T) {
	b := setup(t)
	var report []measurement

	// 1. Ctrl-C while the first components install.
	u := b.start(t, "up 1")
	u.waitFor(t, "a stage running", anyStageRunning)
	code, took := u.signal(t, syscall.SIGINT)
	if code != 130 {
		t.Errorf("up interrupted with SIGINT exited %d, want 130; stderr:\n%s", code, u.errText())
	}
	report = append(report, b.recover(t, "up 2", "SIGINT while the first stages install",
		fmt.Sprintf("exit %d, %.1fs after the signal", code, took.Seconds())))

	// 2. kill -9 in the middle of a Helm upgrade (a release pending); the
	// next up starts at once, while the dead run's lease is still held.
	u = b.start(t, "up 3", "--reapply")
	pending := b.waitPending(t, u)
	code, took = u.signal(t, syscall.SIGKILL)
	m := b.recover(t, "up 4", "SIGKILL during a Helm upgrade ("+pending+")",
		fmt.Sprintf("killed (exit %d), gone %.1fs after the signal", code, took.Seconds()))
	if strings.Contains(m.did, "waiting for it") {
		t.Errorf("up 4 waited for the killed run's lock instead of taking it over: %s", m.did)
	}
	report = append(report, m)

	// 3. The API server restarts (down 5 s) under a running up, which must
	// ride it out and finish by itself.
	u = b.start(t, "up 5", "--reapply")
	u.waitFor(t, "a stage running", anyStageRunning)
	restartStart := time.Now()
	if err := b.c.Restart(context.Background(), "kube-apiserver", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	outage := time.Since(restartStart)
	if code := u.wait(t); code != 0 {
		t.Fatalf("up during an API server restart exited %d; stderr:\n%s", code, u.errText())
	}
	b.assertConverged(t, "up 5")
	report = append(report, measurement{fault: "kube-apiserver restart under up 5 (--reapply)",
		stopped:  fmt.Sprintf("API unavailable %.1fs; up 5 itself finished, exit 0", outage.Seconds()),
		recovery: u.ended.Sub(u.started), did: u.did()})

	// 4. Two ups at once: the first re-applies everything (--reapply),
	// the second waits for it; neither uninstalls the other's work.
	_, before := b.helmRevisions(t)
	first := b.start(t, "up 6a", "--reapply")
	first.waitFor(t, "a stage running", anyStageRunning)
	second := b.startText(t, "up 6b")
	c1, c2 := first.wait(t), second.wait(t)
	if c1 != 0 || c2 != 0 {
		t.Fatalf("concurrent ups exited %d and %d; stderr:\n--- 6a\n%s\n--- 6b\n%s", c1, c2, first.errText(), second.errText())
	}
	if !strings.Contains(second.errText(), "is changing this cluster; waiting for it to finish") {
		t.Errorf("the second up did not say it waited; stderr:\n%s", second.errText())
	}
	for _, out := range []string{first.errText(), second.errText()} {
		if strings.Contains(strings.ToLower(out), "interrupted run") {
			t.Errorf("a concurrent up took the other's release for an interrupted one:\n%s", out)
		}
	}
	_, after := b.helmRevisions(t)
	for rel, v := range before {
		if !newer(after[rel], v) {
			t.Errorf("release %s at revision %s after --reapply, %s before: it was not upgraded, or was uninstalled and installed anew", rel, after[rel], v)
		}
	}
	b.assertConverged(t, "two concurrent ups")
	report = append(report, measurement{fault: "two ups at once (6a --reapply, 6b plain)",
		stopped:  fmt.Sprintf("6a took %.1fs", first.ended.Sub(first.started).Seconds()),
		recovery: second.ended.Sub(second.started), did: second.did()})

	// 5. --no-wait fails at once while another up holds the lock.
	first = b.start(t, "up 7a", "--reapply")
	first.waitFor(t, "a stage running", anyStageRunning)
	noWait := b.startText(t, "up 7b", "--no-wait")
	if code := noWait.wait(t); code == 0 || !strings.Contains(noWait.errText(), "another run is changing this cluster: neuroscale up on") {
		t.Errorf("up --no-wait beside a running up exited %d; stderr:\n%s", code, noWait.errText())
	}
	if code := first.wait(t); code != 0 {
		t.Fatalf("up 7a exited %d; stderr:\n%s", code, first.errText())
	}
	b.assertConverged(t, "--no-wait")
	report = append(report, measurement{fault: "up --no-wait beside a running up", stopped: "-",
		recovery: noWait.ended.Sub(noWait.started), did: noWait.did()})

	t.Log("fault | how the hurt run ended | next up took | what the next up did")
	for _, m := range report {
		t.Logf("%s | %s | %.1fs | %s", m.fault, m.stopped, m.recovery.Seconds(), m.did)
	}
}

// newer reports whether Helm revision a is after b (decimal strings).
func newer(a, b string) bool {
	return len(a) > len(b) || len(a) == len(b) && a > b
}
