package main

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// program is one platform program that --real=controllers runs for real:
// the container image it plays (matched by repository path, whatever the
// registry, tag or digest) and the binary scripts/testcluster builds for
// it from its Go module (test/upstream/*).
type program struct {
	name   string
	image  string // repository path suffix, e.g. "kyverno/kyverno"
	binary string // file in the bench's bin/real directory
	// adapt receives the container's args (variables expanded, mounted
	// paths mapped) and returns the command line to run: where the program
	// would bind a port on every address (taken by other programs here,
	// as all pods share the bench's one pod network namespace) it binds
	// its pod IP, and
	// it is pointed at its ServiceAccount kubeconfig when it reads no
	// KUBECONFIG variable. Each deviation from the pod spec is listed in
	// the README's test-cluster section.
	adapt func(in programInput, args []string) []string
}

// programInput is what adapt may use.
type programInput struct {
	pod        *corev1.Pod
	podIP      string
	kubeconfig string
	mounts     []mount
	env        map[string]string
}

// realPrograms lists the programs run for real, with their deviations
// from the pod spec.
func realPrograms() []program {
	return []program{
		{
			name: "cert-manager-controller", image: "jetstack/cert-manager-controller", binary: "cert-manager-controller",
			// cert-manager reads no KUBECONFIG: --kubeconfig is added. /livez
			// binds the pod IP; the rebuilt command serves no metrics.
			adapt: func(in programInput, args []string) []string {
				return append(args, "--kubeconfig="+in.kubeconfig, "--healthz-listen-address="+in.podIP+":9403")
			},
		},
		{
			name: "cert-manager-cainjector", image: "jetstack/cert-manager-cainjector", binary: "cert-manager-cainjector",
			adapt: func(in programInput, args []string) []string {
				return append(args, "--kubeconfig="+in.kubeconfig, "--metrics-listen-address="+in.podIP+":9402")
			},
		},
		{
			name: "cert-manager-webhook", image: "jetstack/cert-manager-webhook", binary: "cert-manager-webhook",
			// --kubeconfig added; the webhook's port flags take a port only,
			// so its TLS (10250) and healthz (6080) servers bind every
			// address; metrics bind the pod IP.
			adapt: func(in programInput, args []string) []string {
				return append(args, "--kubeconfig="+in.kubeconfig, "--metrics-listen-address="+in.podIP+":9402")
			},
		},
		{
			name: "kyverno-admission-controller", image: "kyverno/kyverno", binary: "kyverno",
			// Kyverno builds its client from --kubeconfig only; its webhook
			// and metrics servers bind the pod IP instead of every address.
			adapt: func(in programInput, args []string) []string {
				args = bindPodIP(args, in.podIP, "--controllerRuntimeMetricsAddress")
				return append(args, "--kubeconfig="+in.kubeconfig,
					"--webhookServerHost="+in.podIP, "--metricsHost="+in.podIP)
			},
		},
		{
			name: "kserve-controller-manager", image: "kserve/kserve-controller", binary: "kserve-manager",
			// KServe's manager (test/upstream/kserve/manager) reads
			// KUBECONFIG. Flags of the bench's copy: its webhook server
			// binds the pod IP (--webhook-host: Kyverno's webhook has port
			// 9443 too) and reads its certificate from the mounted Secret
			// (--cert-dir: the chart mounts it at controller-runtime's
			// default directory, which no flag names); the leader election
			// lease is in the pod's namespace (read from the ServiceAccount
			// mount in a pod). Metrics (127.0.0.1:8080 in the chart,
			// kube-rbac-proxy's upstream) and probes (:8081) bind the pod
			// IP. The later flag wins.
			adapt: func(in programInput, args []string) []string {
				return append(args, "--webhook-host="+in.podIP, "--leader-election-namespace="+in.pod.Namespace,
					"--cert-dir="+rewritePaths(kserveCertDir, in.mounts),
					"--metrics-addr="+in.podIP+":8080", "--health-probe-addr="+in.podIP+":8081")
			},
		},
	}
}

// kserveCertDir is where KServe's chart mounts the webhook certificate:
// controller-runtime's default CertDir.
const kserveCertDir = "/tmp/k8s-webhook-server/serving-certs"

func programNames() []string {
	var names []string
	for _, p := range realPrograms() {
		names = append(names, p.name)
	}
	return names
}

// programFor returns the program that plays image, if any.
func programFor(image string) (program, bool) {
	repo := imageRepository(image)
	for _, p := range realPrograms() {
		if repo == p.image || strings.HasSuffix(repo, "/"+p.image) {
			return p, true
		}
	}
	return program{}, false
}

// imageRepository strips the tag and digest: "reg.io/a/b:v1@sha256:..." is
// "reg.io/a/b".
func imageRepository(image string) string {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndexByte(image, ':'); i >= 0 && !strings.Contains(image[i:], "/") {
		image = image[:i]
	}
	return image
}

// bindPodIP rewrites "--flag=:PORT" (every address) to "--flag=PODIP:PORT".
func bindPodIP(args []string, podIP string, flags ...string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		for _, f := range flags {
			if strings.HasPrefix(a, f+"=:") {
				out[i] = f + "=" + podIP + strings.TrimPrefix(a, f+"=")
			}
		}
	}
	return out
}
