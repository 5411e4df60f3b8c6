package testcluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// WithReal runs the named parts of the platform for real beside the
// simulated pods (scripts/testcluster start --real=LIST). "backstage" runs
// the real Backstage backend (test/backstage) for every Backstage pod, with
// the config, files and environment that pod mounts, and a real PostgreSQL
// for the chart's PostgreSQL pod; the pod's port-forward and logs reach
// it. "controllers" runs the platform's controllers and admission webhooks
// (Kyverno's admission controller, cert-manager's controller, cainjector
// and webhook, Knative Serving with queue-proxy, net-kourier's controller;
// see test/k8senv/cmd/testcluster/real_programs.go), one local process per
// container of the pods their charts create, with the API server's
// admission webhooks on, and stand-ins for Kourier's Envoy and the model
// server; each pod gets an IP in a network namespace of its own. The first start builds the programs
// (minutes cold; scripts/test builds them beforehand). The names combine:
// WithReal("controllers", "backstage"). Use CanRunReal first to skip where
// the tools or privileges are missing; Simulated lists what stays played.
func WithReal(names ...string) Option {
	return func(o *options) { o.real = append(o.real, names...) }
}

// CanRunReal reports why the named real parts cannot run on this machine,
// or "" if they can; tests skip with that reason. CI installs what they
// need (see .ci/run), so there they run.
func CanRunReal(names ...string) string {
	if why := CanBuild(); why != "" {
		return why
	}
	for _, n := range names {
		switch n {
		case "backstage":
			for _, tool := range []string{"node", "npm"} {
				if _, err := exec.LookPath(tool); err != nil {
					return fmt.Sprintf("%s not found on PATH: real Backstage needs Node 20 or 22 and npm", tool)
				}
			}
			if !havePostgres() {
				return "PostgreSQL not found (initdb): real Backstage needs it for the chart's PostgreSQL pod; apt-get install -y postgresql"
			}
		case "controllers":
			if why := podNetworkUnsupported(); why != "" {
				return why
			}
		}
	}
	return ""
}

// podNetworkUnsupported says why the launcher cannot create the pods'
// network namespace here (ip netns add and a veth pair need iproute2, and
// CAP_NET_ADMIN and CAP_SYS_ADMIN), or "". The launcher checks the same
// before it starts (real_netns.go in test/k8senv, a module of its own).
func podNetworkUnsupported() string {
	if _, err := exec.LookPath("ip"); err != nil {
		return "ip (iproute2) not found on PATH: real controllers run in a network namespace of the bench's own"
	}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "cannot read this process's capabilities: " + err.Error()
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			const netAdmin, sysAdmin = 12, 21
			if err == nil && caps&(1<<netAdmin) != 0 && caps&(1<<sysAdmin) != 0 {
				return ""
			}
		}
	}
	return "real controllers run in a network namespace and veth pair of the bench's own (ip netns add): that needs root, or CAP_NET_ADMIN and CAP_SYS_ADMIN"
}

func havePostgres() bool {
	if _, err := exec.LookPath("initdb"); err == nil {
		return true
	}
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	return len(m) > 0
}

// Simulated names what a cluster started WithReal(real...) still plays
// instead of running the real program: the one list of it, printed by the
// tests that use real components (issue 12) and quoted in the README.
func Simulated(real ...string) []string {
	has := map[string]bool{}
	for _, r := range real {
		has[r] = true
	}
	out := []string{"pods: kwok marks them Running and Ready; no container image runs"}
	if has["controllers"] {
		out = append(out,
			"containers of Kyverno's admission controller, cert-manager (controller, cainjector, webhook) and KServe's controller manager v0.20.0 (its controllers and webhooks; the simulator then writes no InferenceService status) run as local processes built from their Go modules, each pod in a network namespace of its own; every other container stays simulated, including Kyverno's background, cleanup and reports controllers and KServe's kube-rbac-proxy",
			"Knative Serving v1.23.0 (controller, webhook, autoscaler, activator, and queue-proxy in revision pods) runs for real; Knative skips tag resolution (the bench sets config-deployment's registries-skipping-tag-resolving: no registry answers here)",
			"net-kourier's controller runs for real at v0.48.0 (Knative 1.21), not the catalog's 1.23.0: the Go module proxy refuses v0.49.x/v0.50.x (403); the rendered kourier.yaml (config, RBAC, bootstrap) is 1.23's",
			"Kourier's Envoy gateway: a stand-in that takes net-kourier's routes and clusters over xDS and proxies plain HTTP by them (the ingress prober's hash is echoed by the real activator or queue-proxy behind it); no TLS listeners, HTTP/2 upstreams, retries or timeouts",
			"the model server (kserve-container of the sklearn runtime, kserve/sklearnserver): a stand-in serving KServe's V1 protocol, whose predictions come from a Gaussian naive Bayes over the iris class statistics, not from the model file; the storage initializer does not run",
			"cluster DNS: a Service name resolves to its ready endpoints' pod IPs (a hosts file per pod); Service IPs are not routed, and the API server reaches webhooks at their endpoints")
	} else {
		out = append(out, "admission webhooks: off unless started WithReal(\"controllers\") or --webhooks=on (then nothing answers them)",
			"KServe's controller manager: not run unless started WithReal(\"controllers\"); the simulator writes InferenceService status")
	}
	if !has["controllers"] {
		out = append(out,
			"Knative Serving (controller, webhook, autoscaler, activator, queue-proxy) and net-kourier's controller: not run unless started WithReal(\"controllers\")",
			"Kourier's Envoy gateway and the model server: not run")
	}
	out = append(out,
		"ArgoCD's controllers: not run; the simulator writes Application status",
		"LoadBalancer ingress and volume provisioning: the simulator (as k3s's servicelb and local-path do)",
	)
	if !has["controllers"] {
		out = append(out, "Service IPs and cluster DNS: not routed; the API server reaches webhooks at their endpoints")
	}
	if !has["backstage"] {
		out = append(out, "Backstage: not run unless started WithReal(\"backstage\")")
	}
	return out
}
