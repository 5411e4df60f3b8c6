package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// The harness behind --real=controllers watches pods, and while a pod
// whose container runs the image of a known program (see realPrograms) is
// Running on the node, it runs that container as a local process built
// from the program's Go module, inside the bench's pod network
// (real_netns.go) with the pod's IP as an address, with the container's own
// command line, environment and mounted files, and a kubeconfig holding a
// token of the pod's ServiceAccount. It restarts a process that exits (as
// a kubelet with restartPolicy Always would), replaces it when the pod is
// replaced and stops it when the pod goes. The process's output is served
// as the container's log through a kwok ClusterLogs rule.

// harness holds the processes it runs, by pod UID and container name.
type harness struct {
	log *slog.Logger
	cs  kubernetes.Interface
	dyn dynamic.Interface
	// api is the API server's URL inside the pod network; caData or
	// caFile its CA.
	api    string
	caData []byte
	caFile string
	net    *podNetwork
	dir    string
	bin    string

	// dns gives the pods' namespaces the cluster's Service names
	// (real_dns.go); set before the pod informer starts.
	dns *clusterDNS

	mu      sync.Mutex
	running map[string]*container
}

func (h *harness) run(ctx context.Context) {
	f := informers.NewSharedInformerFactory(h.cs, 30*time.Second)
	h.dns = newClusterDNS(f)
	inf := f.Core().V1().Pods().Informer()
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { h.sync(ctx, obj) },
		UpdateFunc: func(_, obj any) { h.sync(ctx, obj) },
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if pod, ok := obj.(*corev1.Pod); ok {
				h.stopPod(pod)
			}
		},
	})
	f.Start(ctx.Done())
	h.log.Info("harness running", "programs", programNames())
	<-ctx.Done()
	h.mu.Lock()
	all := make([]*container, 0, len(h.running))
	for _, c := range h.running {
		all = append(all, c)
	}
	h.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range all {
		wg.Add(1)
		go func() { defer wg.Done(); c.stop() }()
	}
	wg.Wait()
}

// sync starts the programs of a pod that runs and stops those of a pod
// that is terminating.
func (h *harness) sync(ctx context.Context, obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		h.stopPod(pod)
		return
	}
	if pod.Spec.NodeName == "" || pod.Status.PodIP == "" || pod.Status.Phase != corev1.PodRunning {
		return
	}
	for i := range pod.Spec.Containers {
		ctr := &pod.Spec.Containers[i]
		prog, ok := programFor(ctr.Image)
		if !ok {
			continue
		}
		key := string(pod.UID) + "/" + ctr.Name
		h.mu.Lock()
		_, has := h.running[key]
		if !has {
			c := &container{h: h, pod: pod.DeepCopy(), ctr: ctr.DeepCopy(), prog: prog, done: make(chan struct{})}
			h.running[key] = c
			cctx, cancel := context.WithCancel(ctx)
			c.cancel = cancel
			go c.run(cctx)
		}
		h.mu.Unlock()
	}
}

func (h *harness) stopPod(pod *corev1.Pod) {
	prefix := string(pod.UID) + "/"
	h.mu.Lock()
	var stop []*container
	for k, c := range h.running {
		if strings.HasPrefix(k, prefix) {
			stop = append(stop, c)
			delete(h.running, k)
		}
	}
	h.mu.Unlock()
	if len(stop) == 0 {
		return
	}
	// The pod's network namespace goes once all its programs stopped.
	go func() {
		var wg sync.WaitGroup
		for _, c := range stop {
			wg.Add(1)
			go func() { defer wg.Done(); c.stop() }()
		}
		wg.Wait()
		for _, ns := range h.net.leavePod(string(pod.UID)) {
			h.dns.leave(ns)
		}
	}()
}

// container is one container of a pod, played by a local process.
type container struct {
	h      *harness
	pod    *corev1.Pod
	ctr    *corev1.Container
	prog   program
	cancel context.CancelFunc
	done   chan struct{}
}

func (c *container) name() string { return c.pod.Namespace + "/" + c.pod.Name + "/" + c.ctr.Name }

func (c *container) stop() {
	c.cancel()
	<-c.done
}

// run prepares the container's files and runs its process until ctx ends,
// restarting it with a growing back-off when it exits.
func (c *container) run(ctx context.Context) {
	defer close(c.done)
	log := c.h.log.With("container", c.name(), "program", c.prog.name)
	root := filepath.Join(c.h.dir, c.pod.Namespace+"_"+c.pod.Name+"_"+c.ctr.Name)
	defer c.h.deleteLogs(c)
	backoff := time.Second
	for attempt := 0; ; attempt++ {
		spec, err := c.prepare(ctx, root)
		if err == nil {
			if attempt == 0 {
				err = c.h.serveLogs(ctx, c, spec.logFile, spec.prevLogFile)
			}
		}
		if err == nil {
			started := time.Now()
			log.Info("starting", "attempt", attempt, "args", spec.args)
			err = c.exec(ctx, spec)
			if time.Since(started) > time.Minute {
				backoff = time.Second
			}
		}
		if ctx.Err() != nil {
			log.Info("stopped")
			return
		}
		log.Warn("container exited; restarting", "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// runSpec is what a process is started with.
type runSpec struct {
	binary      string
	args        []string
	env         []string
	workDir     string
	logFile     string
	prevLogFile string
}

// prepare writes the container's volumes, its ServiceAccount kubeconfig and
// its resolved environment under root and returns the command to run.
func (c *container) prepare(ctx context.Context, root string) (runSpec, error) {
	files := filepath.Join(root, "fs")
	if err := os.RemoveAll(files); err != nil {
		return runSpec{}, fmt.Errorf("clean %s: %w", files, err)
	}
	// The root is the container's own: no other pod shares it.
	fs := podFS{root: files, files: map[string]string{}}
	if err := layoutVolumes(ctx, c.h.cs, c.pod, c.ctr, fs, files); err != nil {
		return runSpec{}, fmt.Errorf("pod %s/%s: %w", c.pod.Namespace, c.pod.Name, err)
	}
	mounts := containerMounts(c.ctr, fs)
	kubeconfig := filepath.Join(root, "kubeconfig")
	if err := c.h.writeTokenKubeconfig(ctx, c.pod, kubeconfig); err != nil {
		return runSpec{}, err
	}
	env, err := containerEnv(ctx, c.h.cs, c.pod, c.ctr)
	if err != nil {
		return runSpec{}, err
	}
	args := append(append([]string{}, c.ctr.Command...), c.ctr.Args...)
	if len(c.ctr.Command) > 0 {
		args = args[1:] // the image's own binary path, replaced by ours
	}
	for i, a := range args {
		args[i] = rewritePaths(expandVars(a, env), mounts)
	}
	for k, v := range env {
		env[k] = rewritePaths(v, mounts)
	}
	in := programInput{pod: c.pod, podIP: c.pod.Status.PodIP, kubeconfig: kubeconfig, mounts: mounts, env: env}
	args = c.prog.adapt(in, args)
	env["KUBECONFIG"] = kubeconfig
	env["KUBERNETES_SERVICE_HOST"], env["KUBERNETES_SERVICE_PORT"] = apiHostPort(c.h.api)
	envList := make([]string, 0, len(env)+2)
	for k, v := range env {
		envList = append(envList, k+"="+v)
	}
	// A PATH and HOME keep programs that shell out or cache working.
	envList = append(envList, "PATH="+os.Getenv("PATH"), "HOME="+root)
	sort.Strings(envList)
	binary := filepath.Join(c.h.bin, c.prog.binary)
	if c.prog.standIn != "" {
		if binary, err = os.Executable(); err != nil {
			return runSpec{}, fmt.Errorf("stand-in %s: %w", c.prog.standIn, err)
		}
		args = append([]string{"standin", c.prog.standIn}, args...)
	}
	return runSpec{
		binary:      binary,
		args:        args,
		env:         envList,
		workDir:     root,
		logFile:     filepath.Join(root, "container.log"),
		prevLogFile: filepath.Join(root, "previous.log"),
	}, nil
}

// exec runs the process until it exits or ctx ends (then SIGTERM, SIGKILL
// after the pod's grace period, at most 10 s on the bench).
func (c *container) exec(ctx context.Context, spec runSpec) error {
	if _, err := os.Stat(spec.logFile); err == nil {
		_ = os.Rename(spec.logFile, spec.prevLogFile)
	}
	logw, err := newCRILog(spec.logFile)
	if err != nil {
		return err
	}
	defer logw.Close()
	ns, err := c.h.net.enterPod(string(c.pod.UID), c.pod.Status.PodIP)
	if err != nil {
		return err
	}
	if err := c.h.dns.enter(ns, c.pod.Namespace); err != nil {
		return err
	}
	// In the pod's network namespace, where the pod's IP is an address.
	cmd := c.h.net.command(ns, spec.binary, spec.args...)
	cmd.Env = spec.env
	cmd.Dir = spec.workDir
	cmd.Stdout, cmd.Stderr = logw.stream("stdout"), logw.stream("stderr")
	// Pdeathsig: should the launcher die, its programs die with it (it
	// survives ip netns exec's execve).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", spec.binary, err)
	}
	// The pid lets a test freeze or kill the process to play a hung or
	// crashed server.
	pidPath := filepath.Join(spec.workDir, "pid")
	_ = os.WriteFile(pidPath, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644)
	defer os.Remove(pidPath)
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	probeCtx, stopProbe := context.WithCancel(ctx)
	probed := make(chan struct{})
	go func() { defer close(probed); c.h.probeReady(probeCtx, c) }()
	defer func() {
		stopProbe()
		<-probed
		c.h.setReady(context.Background(), c, false)
	}()
	var werr error
	select {
	case werr = <-waited:
	case <-ctx.Done():
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		grace := 10 * time.Second
		if g := c.pod.Spec.TerminationGracePeriodSeconds; g != nil && time.Duration(*g)*time.Second < grace {
			grace = time.Duration(*g) * time.Second
		}
		select {
		case werr = <-waited:
		case <-time.After(grace):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			werr = <-waited
		}
	}
	if werr == nil {
		return errors.New("exited with status 0")
	}
	return werr
}

// serveLogs makes `kubectl logs` of the container read the process's log,
// and `kubectl port-forward` to its ports reach it.
func (h *harness) serveLogs(ctx context.Context, c *container, file, previous string) error {
	follow := true
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1",
		"kind":       "ClusterLogs",
		"metadata":   map[string]any{"name": logsName(c)},
		"spec": map[string]any{
			"selector": map[string]any{"matchNamespaces": []any{c.pod.Namespace}, "matchNames": []any{c.pod.Name}},
			"logs": []any{map[string]any{
				"containers": []any{c.ctr.Name}, "logsFile": file, "previousLogsFile": previous, "follow": follow,
			}},
		},
	}}
	_, err := h.dyn.Resource(clusterLogsGVR).Create(ctx, obj, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create ClusterLogs for %s: %w", c.name(), err)
	}
	// `kubectl port-forward` to the container's ports reaches the process
	// at the pod IP (kwok dials it from the root namespace).
	var forwards []any
	for _, p := range c.ctr.Ports {
		if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
			continue
		}
		forwards = append(forwards, map[string]any{
			"ports":  []any{int64(p.ContainerPort)},
			"target": map[string]any{"address": c.pod.Status.PodIP, "port": int64(p.ContainerPort)},
		})
	}
	if len(forwards) == 0 {
		return nil
	}
	fwd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1",
		"kind":       "ClusterPortForward",
		"metadata":   map[string]any{"name": logsName(c)},
		"spec": map[string]any{
			"selector": map[string]any{"matchNamespaces": []any{c.pod.Namespace}, "matchNames": []any{c.pod.Name}},
			"forwards": forwards,
		},
	}}
	_, err = h.dyn.Resource(clusterPortForwardGVR).Create(ctx, fwd, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create ClusterPortForward for %s: %w", c.name(), err)
	}
	return nil
}

func (h *harness) deleteLogs(c *container) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = h.dyn.Resource(clusterLogsGVR).Delete(ctx, logsName(c), metav1.DeleteOptions{})
	_ = h.dyn.Resource(clusterPortForwardGVR).Delete(ctx, logsName(c), metav1.DeleteOptions{})
}

func logsName(c *container) string {
	return "real-" + string(c.pod.UID) + "-" + c.ctr.Name
}

// writeTokenKubeconfig writes a kubeconfig whose user is the pod's
// ServiceAccount, with a token bound to the pod (TokenRequest), so the
// program is held to the RBAC its chart grants.
func (h *harness) writeTokenKubeconfig(ctx context.Context, pod *corev1.Pod, path string) error {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	expiry := int64(24 * 3600)
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: &expiry,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	tok, err := h.cs.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, tr, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("token of service account %s/%s: %w", pod.Namespace, sa, err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["bench"] = &clientcmdapi.Cluster{Server: h.api, CertificateAuthorityData: h.caData, CertificateAuthority: h.caFile}
	cfg.AuthInfos[sa] = &clientcmdapi.AuthInfo{Token: tok.Status.Token}
	cfg.Contexts["bench"] = &clientcmdapi.Context{Cluster: "bench", AuthInfo: sa, Namespace: pod.Namespace}
	cfg.CurrentContext = "bench"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig of %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

func apiHostPort(host string) (string, string) {
	host = strings.TrimPrefix(strings.TrimPrefix(host, "https://"), "http://")
	if i := strings.LastIndexByte(host, ':'); i > 0 {
		return host[:i], host[i+1:]
	}
	return host, "443"
}
