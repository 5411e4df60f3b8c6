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
	// standIn, instead of binary, names a stand-in of the launcher's own
	// (`testcluster standin NAME ARGS...`, standin.go): a small server
	// that answers what the platform asks of a container the bench cannot
	// run (no image runs here), listed in Simulated.
	standIn string
	// owns lists the resources (RESOURCE.GROUP) whose status the program
	// writes and the simulator plays otherwise (e.g.
	// "inferenceservices.serving.kserve.io" for KServe's controller
	// manager): with --real=controllers the simulator leaves them alone.
	owns []string
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
		// Knative Serving v1.23.0. Each pod has a network namespace of its
		// own, so its programs bind their ports on every address as in the
		// pod spec; they read KUBECONFIG (knative.dev/pkg/environment).
		{name: "knative-controller", image: "knative.dev/serving/cmd/controller", binary: "knative-controller", adapt: asIs},
		{name: "knative-webhook", image: "knative.dev/serving/cmd/webhook", binary: "knative-webhook", adapt: asIs},
		{name: "knative-autoscaler", image: "knative.dev/serving/cmd/autoscaler", binary: "knative-autoscaler", adapt: asIs},
		{name: "knative-activator", image: "knative.dev/serving/cmd/activator", binary: "knative-activator", adapt: asIs},
		// queue-proxy, the sidecar of every revision pod, configured by its
		// environment; it reaches the model server at 127.0.0.1 in the pod.
		{name: "knative-queue-proxy", image: "knative.dev/serving/cmd/queue", binary: "knative-queue", adapt: asIs},
		// net-kourier's controller at v0.48.0 (Knative 1.21): the proxy
		// serves no newer one (test/upstream/net-kourier/go.mod).
		{name: "net-kourier-controller", image: "knative.dev/net-kourier/cmd/kourier", binary: "net-kourier-controller", adapt: asIs},
		{
			// Kourier's Envoy gateway: a stand-in that takes the routes
			// net-kourier's controller pushes over xDS from the address in
			// the Envoy bootstrap and answers the readiness probe and the
			// ingress status prober by them (test/upstream/net-kourier/gateway).
			name: "kourier-gateway", image: "envoyproxy/envoy", binary: "kourier-gateway-standin",
			adapt: func(in programInput, args []string) []string {
				return []string{"--bootstrap=" + envoyBootstrap(args, in.mounts)}
			},
		},
		{
			// KServe's sklearn model server (kserve-container of the
			// kserve-sklearnserver runtime): a stand-in serving KServe's V1
			// protocol with a classifier computed from the iris data
			// (standin_model.go). Its args (--model_name, --http_port) are
			// the runtime's.
			name: "sklearn-model-server", image: "kserve/sklearnserver", standIn: "model-server", adapt: asIs,
		},
		{
			// KServe's controller manager v0.20.0 (test/upstream/kserve/manager:
			// upstream's main with two flags of the bench's): it reads
			// KUBECONFIG; --cert-dir points it at the mounted Secret (the chart
			// mounts it at controller-runtime's default directory, which no
			// flag of upstream's names) and --leader-election-namespace at the
			// pod's namespace (which in a pod it reads from the ServiceAccount
			// mount under /var/run/secrets).
			name: "kserve-controller-manager", image: "kserve/kserve-controller", binary: "kserve-manager",
			owns: []string{"inferenceservices.serving.kserve.io"},
			adapt: func(in programInput, args []string) []string {
				return append(args, "--cert-dir="+rewritePaths(kserveCertDir, in.mounts),
					"--leader-election-namespace="+in.pod.Namespace)
			},
		},
	}
}

// kserveCertDir is where KServe's chart mounts the webhook certificate:
// controller-runtime's default CertDir.
const kserveCertDir = "/tmp/k8s-webhook-server/serving-certs"

// asIs runs a program with the container's own command line.
func asIs(_ programInput, args []string) []string { return args }

// envoyBootstrap finds Envoy's -c FILE among its args (Kourier passes
// "-c /tmp/config/envoy-bootstrap.yaml" as one word) and maps it to the
// mounted file.
func envoyBootstrap(args []string, mounts []mount) string {
	for i, a := range args {
		var f string
		switch {
		case a == "-c" || a == "--config-path":
			if i+1 < len(args) {
				f = args[i+1]
			}
		case strings.HasPrefix(a, "-c "):
			f = strings.TrimSpace(strings.TrimPrefix(a, "-c "))
		case strings.HasPrefix(a, "--config-path="):
			f = strings.TrimPrefix(a, "--config-path=")
		}
		if f != "" {
			return rewritePaths(f, mounts)
		}
	}
	return ""
}

// realOwnedStatus lists the resources whose status real programs write.
func realOwnedStatus() []string {
	var out []string
	for _, p := range realPrograms() {
		out = append(out, p.owns...)
	}
	return out
}

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
