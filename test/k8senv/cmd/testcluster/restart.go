package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// A cluster can be hurt on purpose: `scripts/testcluster restart DIR NAME
// [--down D]` writes DIR/restart/NAME.request (holding D) and kills the
// process; the supervisor, which notices every exit of its children, starts
// it again with the flags and ports it was first started with, D after it
// went down, waits until it serves, and writes DIR/restart/NAME.done. A
// process that exits on its own is restarted the same way, after a backoff
// that grows while it keeps crashing, so a flaky start under load does not
// end the cluster.

// procSpec is how one process of the cluster was started.
type procSpec struct {
	Name string   `json:"name"`
	Bin  string   `json:"bin"`
	Args []string `json:"args"`
}

func specPath(dir, name string) string { return filepath.Join(dir, "specs", name+".json") }

func writeSpec(dir string, s procSpec) error {
	if err := os.MkdirAll(filepath.Join(dir, "specs"), 0o700); err != nil {
		return fmt.Errorf("create specs dir: %w", err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode spec of %s: %w", s.Name, err)
	}
	if err := os.WriteFile(specPath(dir, s.Name), b, 0o600); err != nil {
		return fmt.Errorf("record spec of %s: %w", s.Name, err)
	}
	return nil
}

// readSpecs returns the recorded specs of the processes started so far.
func readSpecs(dir string) []procSpec {
	paths, _ := filepath.Glob(filepath.Join(dir, "specs", "*.json"))
	out := make([]procSpec, 0, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var s procSpec
		if json.Unmarshal(b, &s) == nil && s.Name != "" {
			out = append(out, s)
		}
	}
	return out
}

// resetRestartState forgets the processes and requests of a cluster that
// ran in dir before, so none of its processes is restarted into this one.
func resetRestartState(dir string) error {
	for _, sub := range []string{"specs", "restart"} {
		if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
			return fmt.Errorf("clean %s: %w", sub, err)
		}
	}
	return os.MkdirAll(filepath.Join(dir, "restart"), 0o700)
}

func requestPath(dir, name string) string { return filepath.Join(dir, "restart", name+".request") }
func donePath(dir, name string) string    { return filepath.Join(dir, "restart", name+".done") }

// requestedDown returns how long a requested restart keeps name down, and
// whether a restart of name was requested.
func requestedDown(dir, name string) (time.Duration, bool) {
	b, err := os.ReadFile(requestPath(dir, name))
	if err != nil {
		return 0, false
	}
	d, err := time.ParseDuration(strings.TrimSpace(string(b)))
	if err != nil || d < 0 {
		return 0, true
	}
	return d, true
}

// restarter is the supervisor's memory of the processes it found down.
type restarter struct {
	dir string
	// downSince is when each dead process was first seen dead.
	downSince map[string]time.Time
	// crashes counts the exits nobody asked for since the process last ran
	// for a minute; startedAt is when it was last started.
	crashes   map[string]int
	startedAt map[string]time.Time
}

func newRestarter(dir string) *restarter {
	return &restarter{dir: dir, downSince: map[string]time.Time{}, crashes: map[string]int{}, startedAt: map[string]time.Time{}}
}

// maxBackoff bounds the wait before a crashing process is started again.
const maxBackoff = 30 * time.Second

// check restarts every recorded process that is not running, once its
// requested down time or its crash backoff has passed.
func (r *restarter) check(ctx context.Context) {
	for _, s := range readSpecs(r.dir) {
		if _, ok := readPid(r.dir, s.Name); ok {
			if t, ok := r.startedAt[s.Name]; ok && time.Since(t) > time.Minute {
				r.crashes[s.Name] = 0
			}
			continue
		}
		now := time.Now()
		down, requested := requestedDown(r.dir, s.Name)
		since, seen := r.downSince[s.Name]
		if !seen {
			since = now
			r.downSince[s.Name] = now
			if requested {
				fmt.Printf("%s %s stopped for a requested restart; starting it again in %s\n", now.Format(time.RFC3339), s.Name, down)
			} else {
				r.crashes[s.Name]++
				fmt.Printf("%s %s exited on its own; last lines of %s:\n%s", now.Format(time.RFC3339), s.Name, logPath(r.dir, s.Name), logTail(r.dir, s.Name, 5))
			}
		}
		if !requested {
			down = min(time.Duration(1<<min(r.crashes[s.Name]-1, 5))*time.Second, maxBackoff)
		}
		if now.Sub(since) < down {
			continue
		}
		if err := r.restart(ctx, s, since); err != nil {
			fmt.Printf("%s restart of %s failed: %v\n", time.Now().Format(time.RFC3339), s.Name, err)
		}
	}
}

func (r *restarter) restart(ctx context.Context, s procSpec, since time.Time) error {
	delete(r.downSince, s.Name)
	if f, err := os.OpenFile(logPath(r.dir, s.Name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
		fmt.Fprintf(f, "\n--- testcluster: restarted by the supervisor at %s ---\n", time.Now().Format(time.RFC3339))
		_ = f.Close()
	}
	if s.Name == "kwok" {
		// kwok holds each node's Lease under a new random identity per
		// process, so a restarted kwok would wait for its predecessor's
		// lease to expire (40 s) before it looks after the node again; a
		// restarted kubelet renews at once. The predecessor is dead: free
		// its leases.
		if err := releaseNodeLeases(ctx, r.dir); err != nil {
			fmt.Printf("%s could not free the node leases of the previous kwok: %v\n", time.Now().Format(time.RFC3339), err)
		}
	}
	pid, err := startProc(r.dir, s.Name, s.Bin, s.Args, os.O_APPEND)
	if err != nil {
		return err
	}
	r.startedAt[s.Name] = time.Now()
	if err := waitServing(ctx, r.dir, s.Name); err != nil {
		return err
	}
	took := time.Since(since)
	fmt.Printf("%s %s restarted as pid %d, serving %.1fs after it went down\n", time.Now().Format(time.RFC3339), s.Name, pid, took.Seconds())
	if _, requested := requestedDown(r.dir, s.Name); requested {
		_ = os.Remove(requestPath(r.dir, s.Name))
		return os.WriteFile(donePath(r.dir, s.Name), []byte(strconv.Itoa(pid)+"\n"), 0o644)
	}
	return nil
}

// waitServing waits until a restarted etcd or API server answers its
// health endpoint (the others have none that matters: they reconnect).
func waitServing(ctx context.Context, dir, name string) error {
	env, err := readClusterEnv(dir)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	switch name {
	case "etcd":
		return waitHTTP(ctx, name, env["ETCD"]+"/health", nil, dir)
	case "kube-apiserver":
		token, err := readToken(dir)
		if err != nil {
			return err
		}
		return waitHTTP(ctx, name, env["APISERVER"]+"/readyz", &token, dir)
	case "kwok":
		port, err := strconv.Atoi(env["KUBELET_PORT"])
		if err != nil {
			return fmt.Errorf("cluster.env: KUBELET_PORT %q", env["KUBELET_PORT"])
		}
		return waitHTTP(ctx, name, kwokHealth(port), nil, dir)
	}
	if _, ok := readPid(dir, name); !ok {
		return fmt.Errorf("%s exited right after its restart; see %s", name, logPath(dir, name))
	}
	return nil
}

// readClusterEnv reads DIR/cluster.env, written once the cluster was ready.
func readClusterEnv(dir string) (map[string]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cluster.env"))
	if err != nil {
		return nil, fmt.Errorf("read cluster.env: %w", err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	return env, nil
}

func readToken(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "pki", "tokens.csv"))
	if err != nil {
		return "", fmt.Errorf("read token: %w", err)
	}
	token, _, ok := strings.Cut(string(b), ",")
	if !ok {
		return "", errors.New("tokens.csv holds no token")
	}
	return token, nil
}

func logPath(dir, name string) string { return filepath.Join(dir, "logs", name+".log") }

// logTail returns the last n lines of a process's log, indented, for a
// message that must say why a process ended.
func logTail(dir, name string, n int) string {
	b, err := os.ReadFile(logPath(dir, name))
	if err != nil {
		return "    (no log: " + err.Error() + ")\n"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	var sb strings.Builder
	for _, l := range lines {
		if len(l) > 400 {
			l = l[:400] + "…"
		}
		sb.WriteString("    " + l + "\n")
	}
	return sb.String()
}

// releaseNodeLeases deletes the node Leases of kube-node-lease.
func releaseNodeLeases(ctx context.Context, dir string) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "kubeconfig"))
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	leases, err := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, l := range leases.Items {
		if err := cs.CoordinationV1().Leases(l.Namespace).Delete(ctx, l.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}
