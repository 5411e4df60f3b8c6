package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// realEnv is what a real component's starter gets from the launcher.
type realEnv struct {
	dir  string
	root string // the repository (NEUROSCALE_TESTCLUSTER_ROOT)
	cs   kubernetes.Interface
	dyn  dynamic.Interface
}

// realStarters start the components --real can name. A starter prepares
// what it needs before the cluster is reported ready and returns a stop
// function that the launcher calls when the cluster stops.
var realStarters = map[string]func(ctx context.Context, env realEnv) (stop func(), err error){
	"backstage": startRealBackstage,
}

// startReal starts the components of o.real.
func startReal(ctx context.Context, o startOptions) (stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	if len(o.real) == 0 {
		return stop, nil
	}
	root := os.Getenv("NEUROSCALE_TESTCLUSTER_ROOT")
	if root == "" {
		return nil, errors.New("--real needs NEUROSCALE_TESTCLUSTER_ROOT (the repository; scripts/testcluster sets it)")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(o.dir, "kubeconfig"))
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	env := realEnv{dir: o.dir, root: root, cs: cs, dyn: dyn}
	names := make([]string, 0, len(o.real))
	for n := range o.real {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s, err := realStarters[n](ctx, env)
		if err != nil {
			stop()
			return nil, fmt.Errorf("--real=%s: %w", n, err)
		}
		stops = append(stops, s)
	}
	return stop, nil
}

// Labels the Backstage chart puts on its pods: the backend's and the
// bundled PostgreSQL's.
const (
	backstagePodSelector = "app.kubernetes.io/component=backstage"
	postgresPodSelector  = "app.kubernetes.io/name=postgresql"
)

var (
	clusterPortForwardGVR = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "clusterportforwards"}
	clusterLogsGVR        = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "clusterlogs"}
)

// backstageBench runs, for every Backstage pod on the cluster, the real
// Backstage backend (test/backstage) with what that pod mounts and its
// environment, against one real PostgreSQL standing in for the chart's
// PostgreSQL pod, and points the pod's port-forward and logs at it.
type backstageBench struct {
	env         realEnv
	nodeModules string
	pg          *postgres
	logf        func(format string, args ...any)

	mu       sync.Mutex
	backends map[types.UID]*backend
}

// backend is one real backend process for one pod.
type backend struct {
	ns, pod string
	port    int
	cmd     *exec.Cmd
	exited  chan struct{}
	objects string // name of its ClusterPortForward and ClusterLogs
}

func startRealBackstage(ctx context.Context, env realEnv) (func(), error) {
	logf := func(format string, args ...any) {
		fmt.Printf("%s real backstage: %s\n", time.Now().Format(time.RFC3339), fmt.Sprintf(format, args...))
	}
	if _, err := exec.LookPath("node"); err != nil {
		return nil, errors.New("node not found on PATH: real Backstage needs Node 20 or 22")
	}
	// install.sh is a no-op when the cache matches the lockfile; cold it
	// runs npm ci (CI runs it beforehand, see .ci/run).
	install := exec.CommandContext(ctx, filepath.Join(env.root, "test", "backstage", "install.sh"))
	install.Stderr = os.Stdout
	out, err := install.Output()
	if err != nil {
		return nil, fmt.Errorf("test/backstage/install.sh: %w", err)
	}
	nodeModules := strings.TrimSpace(string(out))
	began := time.Now()
	pg, err := startPostgres(ctx, filepath.Join(env.dir, "logs", "postgres.log"))
	if err != nil {
		return nil, err
	}
	logf("PostgreSQL (standing in for the chart's PostgreSQL pod) on 127.0.0.1:%d, ready in %.1fs", pg.Port, time.Since(began).Seconds())
	b := &backstageBench{env: env, nodeModules: nodeModules, pg: pg, logf: logf, backends: map[types.UID]*backend{}}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.watch(wctx)
	}()
	return func() {
		cancel()
		<-done
		b.mu.Lock()
		for uid, be := range b.backends {
			b.stopBackend(be, false)
			delete(b.backends, uid)
		}
		b.mu.Unlock()
		pg.Stop()
	}, nil
}

// watch reconciles backends with the Backstage pods every second until
// ctx ends: a pod that runs gets a backend, a pod that is deleted or gone
// loses it (a rollout replaces one by the other).
func (b *backstageBench) watch(ctx context.Context) {
	for {
		b.reconcile(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (b *backstageBench) reconcile(ctx context.Context) {
	pods, err := b.env.cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{LabelSelector: backstagePodSelector})
	if err != nil {
		if ctx.Err() == nil {
			b.logf("list pods: %v", err)
		}
		return
	}
	live := map[types.UID]bool{}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp != nil || p.Spec.NodeName == "" || p.Status.Phase != corev1.PodRunning {
			continue
		}
		live[p.UID] = true
		b.mu.Lock()
		_, running := b.backends[p.UID]
		b.mu.Unlock()
		if running {
			continue
		}
		be, err := b.startBackend(ctx, p)
		if err != nil {
			b.logf("pod %s/%s: %v", p.Namespace, p.Name, err)
			// Mark it tried: a pod's spec does not change, retrying
			// would only repeat the error. A new pod gets a new try.
			be = &backend{ns: p.Namespace, pod: p.Name}
		}
		b.mu.Lock()
		b.backends[p.UID] = be
		b.mu.Unlock()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for uid, be := range b.backends {
		if !live[uid] {
			b.stopBackend(be, true)
			delete(b.backends, uid)
		}
	}
}

// backendContainer is the pod's Backstage container: the one the chart
// runs as `node packages/backend`.
func backendContainer(p *corev1.Pod) (*corev1.Container, error) {
	for i := range p.Spec.Containers {
		c := &p.Spec.Containers[i]
		if len(c.Command) >= 2 && c.Command[0] == "node" && c.Command[1] == "packages/backend" {
			return c, nil
		}
	}
	return nil, errors.New("no container runs `node packages/backend` (the Backstage chart's command)")
}

func (b *backstageBench) startBackend(ctx context.Context, p *corev1.Pod) (*backend, error) {
	c, err := backendContainer(p)
	if err != nil {
		return nil, err
	}
	if len(c.Ports) == 0 {
		return nil, fmt.Errorf("container %s declares no port", c.Name)
	}
	podPort := int(c.Ports[0].ContainerPort)
	podDir := filepath.Join(b.env.dir, "real", p.Namespace+"-"+p.Name)
	fs := newPodFS(b.env.dir, p)
	if err := layoutVolumes(ctx, b.env.cs, p, c, fs, podDir); err != nil {
		return nil, err
	}
	env, err := containerEnv(ctx, b.env.cs, p, c)
	if err != nil {
		return nil, err
	}
	net, err := b.standInPostgres(ctx, p.Namespace)
	if err != nil {
		return nil, err
	}
	mapped := net.mapEnv(env)
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	port := ports[0]
	// The pod's own port becomes a free loopback port; the chart sets it
	// through this variable (APP_CONFIG_* overrides the config files).
	env["APP_CONFIG_backend_listen_port"] = strconv.Itoa(port)
	args := []string{filepath.Join(b.env.root, "test", "backstage", "backend.js")}
	for i := 0; i < len(c.Args); i++ {
		a := c.Args[i]
		if a == "--config" && i+1 < len(c.Args) {
			f := fs.path(c.Args[i+1])
			if _, err := mapConfigPaths(f, fs); err != nil {
				return nil, fmt.Errorf("config %s: %w", c.Args[i+1], err)
			}
			args = append(args, a, f)
			i++
			continue
		}
		args = append(args, a)
	}
	workdir := fs.path(imageWorkdir)
	if c.WorkingDir != "" {
		workdir = fs.path(c.WorkingDir)
	}
	if err := layoutImage(fs); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(workdir, 0o755); err != nil {
		return nil, err
	}
	cmd := exec.Command("node", args...)
	cmd.Dir = workdir
	// The image's environment (the upstream backend Dockerfile sets
	// NODE_ENV=production and NODE_OPTIONS=--no-node-snapshot, without
	// which the scaffolder refuses to run templates on Node 20) plus the
	// pod's; nothing of the launcher's leaks in.
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + workdir,
		"NODE_ENV=production",
		"NODE_OPTIONS=--no-node-snapshot",
		"NEUROSCALE_BACKSTAGE_NODE_MODULES=" + b.nodeModules,
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	logPath := filepath.Join(podDir, "container.log")
	logw, err := newCRILog(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logw.stream("stdout"), logw.stream("stderr")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		logw.Close()
		return nil, fmt.Errorf("start node: %w", err)
	}
	be := &backend{ns: p.Namespace, pod: p.Name, port: port, cmd: cmd, exited: make(chan struct{}), objects: "real-backstage-" + p.Namespace + "-" + p.Name}
	pidName := "real-backstage-" + p.Namespace + "-" + p.Name
	_ = os.WriteFile(pidFile(b.env.dir, pidName), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644)
	go func() {
		err := cmd.Wait()
		logw.Close()
		_ = os.Remove(pidFile(b.env.dir, pidName))
		if err != nil {
			b.logf("backend of pod %s/%s exited: %v (log: %s)", p.Namespace, p.Name, err, logPath)
		}
		close(be.exited)
	}()
	b.logf("pod %s/%s: backend pid %d on 127.0.0.1:%d (pod port %d), env mapped to loopback: %s; log %s",
		p.Namespace, p.Name, cmd.Process.Pid, port, podPort, strings.Join(mapped, ","), logPath)
	if err := b.pointPod(ctx, be, c.Name, podPort, logPath); err != nil {
		b.stopBackend(be, true)
		return nil, err
	}
	go b.reportReady(ctx, be, started)
	return be, nil
}

// standInPostgres makes the real PostgreSQL serve the PostgreSQL pods of
// namespace ns: it creates the role their environment names (POSTGRES_USER
// and POSTGRES_PASSWORD, which Bitnami's image creates at first start) and
// maps their Services to it.
func (b *backstageBench) standInPostgres(ctx context.Context, ns string) (*simNetwork, error) {
	net := &simNetwork{}
	sts, err := b.env.cs.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{LabelSelector: postgresPodSelector})
	if err != nil {
		return nil, fmt.Errorf("list PostgreSQL StatefulSets: %w", err)
	}
	for i := range sts.Items {
		s := &sts.Items[i]
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: s.Name + "-0"}, Spec: s.Spec.Template.Spec}
		for j := range pod.Spec.Containers {
			c := &pod.Spec.Containers[j]
			env, err := containerEnv(ctx, b.env.cs, pod, c)
			if err != nil {
				return nil, fmt.Errorf("PostgreSQL %s: %w", s.Name, err)
			}
			if user := env["POSTGRES_USER"]; user != "" {
				if err := b.pg.EnsureRole(ctx, user, env["POSTGRES_PASSWORD"]); err != nil {
					return nil, err
				}
			}
		}
	}
	svcs, err := b.env.cs.CoreV1().Services(ns).List(ctx, metav1.ListOptions{LabelSelector: postgresPodSelector})
	if err != nil {
		return nil, fmt.Errorf("list PostgreSQL Services: %w", err)
	}
	for _, svc := range svcs.Items {
		for _, p := range svc.Spec.Ports {
			if p.Port == 5432 || p.Name == "tcp-postgresql" {
				net.addService(ns, svc.Name, int(p.Port), b.pg.Port)
			}
		}
	}
	return net, nil
}

// pointPod sends the pod's port-forward of podPort and its container log to
// the real backend, through kwok.
func (b *backstageBench) pointPod(ctx context.Context, be *backend, container string, podPort int, logPath string) error {
	selector := map[string]any{"matchNamespaces": []any{be.ns}, "matchNames": []any{be.pod}}
	meta := map[string]any{"name": be.objects, "labels": map[string]any{"testcluster.neuroscale.dev/real": "backstage"}}
	fwd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "ClusterPortForward", "metadata": meta,
		"spec": map[string]any{"selector": selector, "forwards": []any{map[string]any{
			"ports":  []any{int64(podPort)},
			"target": map[string]any{"address": "127.0.0.1", "port": int64(be.port)},
		}}},
	}}
	logs := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "ClusterLogs", "metadata": meta,
		"spec": map[string]any{"selector": selector, "logs": []any{map[string]any{
			"containers": []any{container}, "logsFile": logPath, "follow": true,
		}}},
	}}
	for gvr, obj := range map[schema.GroupVersionResource]*unstructured.Unstructured{clusterPortForwardGVR: fwd, clusterLogsGVR: logs} {
		_ = b.env.dyn.Resource(gvr).Delete(ctx, be.objects, metav1.DeleteOptions{})
		if _, err := b.env.dyn.Resource(gvr).Create(ctx, obj.DeepCopy(), metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create %s %s: %w", obj.GetKind(), be.objects, err)
		}
	}
	return nil
}

// reportReady logs when the backend's readiness endpoint first answers 200:
// the start time of real Backstage.
func (b *backstageBench) reportReady(ctx context.Context, be *backend, started time.Time) {
	url := fmt.Sprintf("http://127.0.0.1:%d/.backstage/health/v1/readiness", be.port)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		if resp, err := client.Get(url); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				b.logf("pod %s/%s: backend ready in %.1fs", be.ns, be.pod, time.Since(started).Seconds())
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-be.exited:
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// stopBackend stops the process (SIGTERM, SIGKILL after 10 s) and, when
// the cluster still runs, removes its forward and log rules.
func (b *backstageBench) stopBackend(be *backend, removeObjects bool) {
	if be.cmd != nil {
		_ = be.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-be.exited:
		case <-time.After(10 * time.Second):
			_ = be.cmd.Process.Kill()
			<-be.exited
		}
		b.logf("pod %s/%s: backend stopped", be.ns, be.pod)
	}
	if removeObjects && be.objects != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, gvr := range []schema.GroupVersionResource{clusterPortForwardGVR, clusterLogsGVR} {
			if err := b.env.dyn.Resource(gvr).Delete(ctx, be.objects, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				b.logf("delete %s %s: %v", gvr.Resource, be.objects, err)
			}
		}
	}
}

// criLog writes a process's output in the CRI log format kwok serves as a
// container log ("TIMESTAMP STREAM F LINE"), one line per output line.
type criLog struct {
	mu      sync.Mutex
	f       *os.File
	streams []*criStream
}

type criStream struct {
	l    *criLog
	name string
	buf  []byte
}

func newCRILog(path string) (*criLog, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open container log: %w", err)
	}
	return &criLog{f: f}, nil
}

// stream returns the writer of one stream (stdout, stderr).
func (l *criLog) stream(name string) io.Writer {
	s := &criStream{l: l, name: name}
	l.streams = append(l.streams, s)
	return s
}

func (s *criStream) Write(p []byte) (int, error) {
	s.l.mu.Lock()
	defer s.l.mu.Unlock()
	s.buf = append(s.buf, p...)
	for {
		i := bytes.IndexByte(s.buf, '\n')
		if i < 0 {
			break
		}
		s.line(s.buf[:i])
		s.buf = s.buf[i+1:]
	}
	return len(p), nil
}

func (s *criStream) line(b []byte) {
	fmt.Fprintf(s.l.f, "%s %s F %s\n", time.Now().UTC().Format(time.RFC3339Nano), s.name, b)
}

// Close writes what is left of unterminated lines and closes the file;
// call it after the process exited (exec.Cmd has stopped writing then).
func (l *criLog) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.streams {
		if len(s.buf) > 0 {
			s.line(s.buf)
			s.buf = nil
		}
	}
	_ = l.f.Close()
}
