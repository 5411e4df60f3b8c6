package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// nodeName is the one simulated node; charts that pin pods by hostname can
// rely on it.
const nodeName = "neuroscale-node"

type startOptions struct {
	dir, bin    string
	webhooks    string
	delaysFile  string
	delays      delayFlags
	simulate    bool
	ownerPid    int
	removeDir   bool
	timeout     time.Duration
	resolvedDel []podReadyDelay
	real        realComponents
	laptop      string
	// podNet and podAPI exist with --real=controllers: the pods' network
	// namespace and the API server's URL inside it (real_netns.go).
	podNet *podNetwork
	podAPI string
}

func runStart(ctx context.Context, args []string) error {
	var o startOptions
	fs := flag.NewFlagSet("start", flag.ContinueOnError)
	fs.StringVar(&o.dir, "dir", "", "cluster directory (kubeconfig, pids, logs, data)")
	fs.StringVar(&o.bin, "bin", "", "directory with the built binaries")
	fs.StringVar(&o.webhooks, "webhooks", "off", "off: the API server never calls admission webhooks; on: it does (and they fail unless --real=controllers runs their servers, which turns this on)")
	fs.StringVar(&o.delaysFile, "delays", "", "YAML file with podReadyDelays: [{selector, delay}]")
	fs.Var(&o.delays, "pod-ready-delay", "SELECTOR=DURATION, e.g. app.kubernetes.io/name=backstage=20s (repeatable)")
	fs.BoolVar(&o.simulate, "simulate", true, "run the simulator (load balancers, storage, InferenceService and Application status)")
	fs.IntVar(&o.ownerPid, "owner-pid", 0, "stop the cluster when this process exits (used by the Go test helper)")
	fs.BoolVar(&o.removeDir, "remove-dir-on-owner-exit", false, "remove DIR after stopping because the owner exited (the owner cannot clean up then)")
	fs.DurationVar(&o.timeout, "timeout", 3*time.Minute, "how long to wait for the cluster to become ready")
	fs.StringVar(&o.laptop, "laptop", "", "laptop model file for sim (image sizes, bandwidth, start times): pods turn Ready only once sim has pulled their images and let them start")
	fs.Var(&o.real, "real", "comma-separated parts run for real beside the simulated pods (see real.go): backstage, controllers")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.dir == "" || o.bin == "" {
		return errors.New("start needs --dir and --bin")
	}
	if o.laptop != "" {
		if !o.simulate {
			return errors.New("--laptop needs the simulator (--simulate=true)")
		}
		abs, err := filepath.Abs(o.laptop)
		if err != nil {
			return fmt.Errorf("resolve %s: %w", o.laptop, err)
		}
		o.laptop = abs
		if _, err := os.Stat(o.laptop); err != nil {
			return fmt.Errorf("--laptop: %w", err)
		}
	}
	if o.real["controllers"] {
		o.webhooks = "on" // real webhook servers answer
	}
	if o.webhooks != "on" && o.webhooks != "off" {
		return fmt.Errorf("--webhooks=%q: want on or off", o.webhooks)
	}
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", o.dir, err)
	}
	o.dir = dir
	o.resolvedDel = o.delays
	if o.delaysFile != "" {
		fromFile, err := readDelaysFile(o.delaysFile)
		if err != nil {
			return err
		}
		o.resolvedDel = append(fromFile, o.resolvedDel...)
	}
	// The supervisor's own pid file lets stop find it; its command line
	// holds --dir, like every process of the cluster.
	if err := os.MkdirAll(filepath.Join(dir, "pids"), 0o700); err != nil {
		return fmt.Errorf("create pids dir: %w", err)
	}
	_ = os.Remove(filepath.Join(dir, "ready"))
	if o.real["controllers"] {
		// Before any process starts: the API server's certificate names
		// the node-side address and kwok hands out the pod IPs.
		if o.podNet, err = newPodNetwork(dir); err != nil {
			return fmt.Errorf("--real=controllers: %w", err)
		}
		defer o.podNet.remove() // after every process stopped
	}
	startCtx, cancel := context.WithTimeout(ctx, o.timeout)
	err = start(startCtx, &o)
	cancel()
	if err != nil {
		stopAll(dir, 5*time.Second)
		_ = os.Remove(pidFile(dir, "supervisor"))
		return err
	}
	stopReal, err := startReal(ctx, o)
	if err != nil {
		stopAll(dir, 5*time.Second)
		_ = os.Remove(pidFile(dir, "supervisor"))
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "ready"), []byte("ok\n"), 0o644); err != nil {
		stopReal()
		stopAll(dir, 5*time.Second)
		return fmt.Errorf("write ready file: %w", err)
	}
	// Real components stop first: a program like Kyverno removes its
	// webhook configurations through the API server as it stops.
	ownerGone := supervise(ctx, dir, o.ownerPid, stopReal)
	_ = os.Remove(pidFile(dir, "supervisor"))
	if ownerGone && o.removeDir {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("remove %s: %w", dir, err)
		}
	}
	return nil
}

func start(ctx context.Context, o *startOptions) error {
	began := time.Now()
	dir := o.dir
	for _, name := range append([]string{"supervisor"}, stopOrder...) {
		if _, ok := readPid(dir, name); ok {
			return fmt.Errorf("%s of a cluster in %s still runs: run scripts/testcluster stop %s first", name, dir, dir)
		}
	}
	if err := os.WriteFile(pidFile(dir, "supervisor"), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("record supervisor pid: %w", err)
	}
	if err := resetRestartState(dir); err != nil {
		return err
	}
	// logs/ is kept: scripts/testcluster already writes supervisor.log
	// there, and every other log is truncated when its process starts.
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o700); err != nil {
		return fmt.Errorf("create logs dir: %w", err)
	}
	// A previous cluster's state would be inconsistent with the new PKI.
	for _, sub := range []string{"pki", "etcd-data"} {
		if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
			return fmt.Errorf("clean %s: %w", sub, err)
		}
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return fmt.Errorf("create %s: %w", sub, err)
		}
	}
	pki := newPKIFiles(dir)
	var extraIPs []string
	if o.podNet != nil {
		extraIPs = append(extraIPs, o.podNet.nodeIP)
	}
	if err := writePKI(pki, extraIPs...); err != nil {
		return err
	}
	tokenBytes := make([]byte, 24)
	if _, err := rand.Read(tokenBytes); err != nil {
		return fmt.Errorf("generate token: %w", err)
	}
	token := hex.EncodeToString(tokenBytes)
	tokenFile := filepath.Join(dir, "pki", "tokens.csv")
	if err := os.WriteFile(tokenFile, []byte(token+",admin,admin-uid,system:masters\n"), 0o600); err != nil {
		return fmt.Errorf("write token file: %w", err)
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	bin := func(n string) string { return filepath.Join(o.bin, n) }

	// etcd
	var etcdURL string
	if err := startListening(ctx, dir, "etcd", 2, func(ports []int) error {
		etcdURL = fmt.Sprintf("http://127.0.0.1:%d", ports[0])
		peerURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
		_, err := spawn(dir, "etcd", bin("etcd"),
			"--name=default",
			"--data-dir="+filepath.Join(dir, "etcd-data"),
			"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
			"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
			"--initial-cluster=default="+peerURL,
			"--unsafe-no-fsync", // a test cluster need not survive a power cut
			"--log-level=warn",
		)
		return err
	}, func() error { return waitHTTP(ctx, "etcd", etcdURL+"/health", nil, dir) }); err != nil {
		return err
	}

	// kube-apiserver
	var server string
	apiArgs := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--endpoint-reconciler-type=none", // the loopback address is no valid endpoint for kubernetes.default
		"--tls-cert-file=" + pki.ServerCert, "--tls-private-key-file=" + pki.ServerKey,
		"--client-ca-file=" + pki.CACert,
		"--token-auth-file=" + tokenFile,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + pki.SAPub,
		"--service-account-signing-key-file=" + pki.SAKey,
		"--service-cluster-ip-range=10.96.0.0/16",
		"--kubelet-preferred-address-types=InternalIP",
		// kwok serves the kubelet API (port-forward, logs) and wants a client cert.
		"--kubelet-client-certificate=" + pki.ClientCert, "--kubelet-client-key=" + pki.ClientKey,
		"--allow-privileged=true",
		"--profiling=false",
	}
	if o.webhooks == "off" {
		// Pods are simulated: no webhook server answers. Off is the happy
		// path where charts' webhook configurations are accepted but never called.
		apiArgs = append(apiArgs, "--disable-admission-plugins=MutatingAdmissionWebhook,ValidatingAdmissionWebhook")
	}
	if o.real["controllers"] {
		apiArgs = realControllerArgs(apiArgs)
	}
	var apiPort int
	if err := startListening(ctx, dir, "kube-apiserver", 1, func(ports []int) error {
		apiPort = ports[0]
		server = fmt.Sprintf("https://127.0.0.1:%d", ports[0])
		if err := writeKubeconfig(kubeconfig, server, pki.CACert, token); err != nil {
			return err
		}
		_, err := spawn(dir, "kube-apiserver", bin("kube-apiserver"), append(slices.Clip(apiArgs), fmt.Sprintf("--secure-port=%d", ports[0]))...)
		return err
	}, func() error { return waitHTTP(ctx, "kube-apiserver", server+"/readyz", &token, dir) }); err != nil {
		return err
	}
	if o.podNet != nil {
		var err error
		if o.podAPI, err = o.podNet.forwardAPI(apiPort); err != nil {
			return err
		}
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = 100, 200
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("dynamic client: %w", err)
	}

	// kwok's Stage and ClusterPortForward kinds are custom resources, so
	// tests can add stages and forwards while the cluster runs.
	if err := installKwokCRDs(ctx, dyn); err != nil {
		return err
	}
	if err := createStages(ctx, dyn, o.resolvedDel, o.laptop != ""); err != nil {
		return err
	}
	if o.real["controllers"] {
		if err := createRealStages(ctx, dyn); err != nil {
			return err
		}
	}

	if _, err := spawn(dir, "kube-controller-manager", bin("kube-controller-manager"),
		"--kubeconfig="+kubeconfig,
		"--controllers=*", // node-lifecycle removes the not-ready taint
		"--leader-elect=false",
		"--secure-port=0",
		"--service-account-private-key-file="+pki.SAKey,
		"--root-ca-file="+pki.CACert,
		"--service-cluster-ip-range=10.96.0.0/16",
		"--concurrent-deployment-syncs=10", "--concurrent-replicaset-syncs=10",
	); err != nil {
		return err
	}
	if _, err := spawn(dir, "kube-scheduler", bin("kube-scheduler"),
		"--kubeconfig="+kubeconfig, "--leader-elect=false", "--secure-port=0",
	); err != nil {
		return err
	}
	kwokConfig := filepath.Join(dir, "kwok.yaml")
	// An explicit configuration file keeps a user's ~/.kwok/kwok.yaml out.
	// It holds no KwokConfiguration: kwok defaults only a missing one, an
	// empty one would set every parallelism to 0.
	if err := os.WriteFile(kwokConfig, []byte("# stages are custom resources (--enable-crds=Stage)\n"), 0o644); err != nil {
		return fmt.Errorf("write kwok config: %w", err)
	}
	podCIDR := "10.244.0.1/24"
	if o.podNet != nil {
		podCIDR = o.podNet.cidr
	}
	var kubeletPort int
	if err := startListening(ctx, dir, "kwok", 1, func(ports []int) error {
		kubeletPort = ports[0]
		_, err := spawn(dir, "kwok", bin("kwok"),
			"--kubeconfig="+kubeconfig,
			"--config="+kwokConfig,
			"--manage-all-nodes=true",
			"--node-ip=127.0.0.1",
			fmt.Sprintf("--node-port=%d", kubeletPort),
			fmt.Sprintf("--server-address=127.0.0.1:%d", kubeletPort),
			"--cidr="+podCIDR,
			"--tls-cert-file="+pki.ServerCert, "--tls-private-key-file="+pki.ServerKey,
			// Without a lease the node flaps NotReady about every minute.
			"--node-lease-duration-seconds=40",
			"--enable-crds=Stage,ClusterPortForward,ClusterLogs,Exec,ClusterExec",
		)
		return err
	}, func() error { return waitHTTP(ctx, "kwok", kwokHealth(kubeletPort), nil, dir) }); err != nil {
		return err
	}
	if o.simulate {
		simArgs := []string{"--kubeconfig=" + kubeconfig}
		if o.laptop != "" {
			simArgs = append(simArgs, "--laptop="+o.laptop)
		}
		if o.real["controllers"] {
			if owned := realOwnedStatus(); len(owned) > 0 {
				simArgs = append(simArgs, "--leave-status="+strings.Join(owned, ","))
			}
		}
		if _, err := spawn(dir, "sim", bin("sim"), simArgs...); err != nil {
			return err
		}
	}
	if err := createNode(ctx, cs); err != nil {
		return err
	}
	if err := waitReady(ctx, cs, dir, o.simulate); err != nil {
		return err
	}
	env := fmt.Sprintf("KUBECONFIG=%s\nAPISERVER=%s\nETCD=%s\nKUBELET_PORT=%d\nWEBHOOKS=%s\nREAL=%s\n", kubeconfig, server, etcdURL, kubeletPort, o.webhooks, o.real.String())
	if o.podNet != nil {
		env += fmt.Sprintf("POD_NETNS=%s\nPOD_CIDR=%s\nPOD_APISERVER=%s\n", o.podNet.name, o.podNet.cidr, o.podAPI)
	}
	if err := os.WriteFile(filepath.Join(dir, "cluster.env"), []byte(env), 0o644); err != nil {
		return fmt.Errorf("write cluster.env: %w", err)
	}
	fmt.Fprintf(os.Stderr, "testcluster: ready in %.1fs: KUBECONFIG=%s\n", time.Since(began).Seconds(), kubeconfig)
	return nil
}

func writeKubeconfig(path, server, caFile, token string) error {
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("read ca: %w", err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["testcluster"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["testcluster"] = &clientcmdapi.Context{Cluster: "testcluster", AuthInfo: "admin", Namespace: "default"}
	cfg.CurrentContext = "testcluster"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return nil
}

// waitHTTP polls url until it answers 200. The TLS certificate is not
// checked here: the point is only to learn when the process serves.
func waitHTTP(ctx context.Context, name, url string, token *string, dir string) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: insecureTransport()}
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("request %s: %w", url, err)
		}
		if token != nil {
			req.Header.Set("Authorization", "Bearer "+*token)
		}
		resp, err := client.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if _, ok := readPid(dir, name); !ok {
			return exitedDuringStart(dir, name)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready (%s): %w; see %s", name, last, ctx.Err(), filepath.Join(dir, "logs", name+".log"))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func createNode(ctx context.Context, cs kubernetes.Interface) error {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name: nodeName,
		Labels: map[string]string{
			"kubernetes.io/hostname": nodeName,
			"kubernetes.io/os":       "linux",
			"kubernetes.io/arch":     "amd64",
			"type":                   "kwok",
		},
		Annotations: map[string]string{
			"kwok.x-k8s.io/node":           "fake",
			"node.alpha.kubernetes.io/ttl": "0",
		},
	}}
	if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create node: %w", err)
	}
	return nil
}

// waitReady returns once workloads can run: the node is Ready with no
// taints left and the default ServiceAccount exists (without it the
// ServiceAccount admission plugin rejects pods in the default namespace).
func waitReady(ctx context.Context, cs kubernetes.Interface, dir string, simulate bool) error {
	procs := []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}
	if simulate {
		procs = append(procs, "sim")
	}
	var why string
	for {
		why = ""
		for _, p := range procs {
			if _, ok := readPid(dir, p); !ok {
				return exitedDuringStart(dir, p)
			}
		}
		node, err := cs.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
		switch {
		case err != nil:
			why = err.Error()
		case !nodeReady(node):
			why = "node not Ready"
		case len(node.Spec.Taints) > 0:
			why = "node still tainted " + node.Spec.Taints[0].Key
		}
		if why == "" {
			if _, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{}); err != nil {
				why = "default ServiceAccount: " + err.Error()
			}
		}
		if why == "" && simulate {
			if _, err := cs.StorageV1().StorageClasses().Get(ctx, "standard", metav1.GetOptions{}); err != nil {
				why = "default StorageClass: " + err.Error()
			}
		}
		if why == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster not ready (%s): %w; logs in %s", why, ctx.Err(), filepath.Join(dir, "logs"))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// insecureTransport is only used to probe readiness endpoints of
// processes we just started; all real API calls verify the CA.
func insecureTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = insecureTLS()
	return t
}
