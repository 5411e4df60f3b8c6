package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// DefaultDelays are the delayed variant's pod readiness delays: Backstage's
// real start (about 90 s on a laptop) scaled down to 9 s, the others 1-3 s
// by how heavy their controllers are, so that the order and overlap of the
// components dominate the install, as on a laptop, and not API calls.
//
// Each selector names the pods of one workload of the rendered platform
// (checked by TestDefaultDelaysMatchWorkloads): no two overlap, and none
// matches a hook Job's pod, which must complete rather than turn Ready.
func DefaultDelays() []Delay {
	const s = time.Second
	return []Delay{
		{"app.kubernetes.io/name=cert-manager", 2 * s},
		{"app.kubernetes.io/name=cainjector", 2 * s},
		{"app.kubernetes.io/name=webhook,app.kubernetes.io/instance=cert-manager", 2 * s},
		{"app.kubernetes.io/name=knative-serving", 2 * s},
		{"app=net-kourier-controller", 1 * s},
		{"app=3scale-kourier-gateway", 1 * s},
		{"app.kubernetes.io/name=kserve-controller-manager", 3 * s},
		{"app.kubernetes.io/name=argocd-server", 2 * s},
		{"app.kubernetes.io/name=argocd-repo-server", 2 * s},
		{"app.kubernetes.io/name=argocd-application-controller", 2 * s},
		{"app.kubernetes.io/name=argocd-applicationset-controller", 1 * s},
		{"app.kubernetes.io/name=argocd-redis", 1 * s},
		{"app.kubernetes.io/name=kyverno-admission-controller", 3 * s},
		{"app.kubernetes.io/name=kyverno-background-controller", 2 * s},
		{"app.kubernetes.io/name=kyverno-cleanup-controller", 2 * s},
		{"app.kubernetes.io/name=kyverno-reports-controller", 2 * s},
		{"app.kubernetes.io/name=backstage", 9 * s},
		{"app.kubernetes.io/name=postgresql", 3 * s},
	}
}

// ParseDelays reads "SELECTOR=DURATION;SELECTOR=DURATION"; the split is at
// each entry's last '=' as in the test cluster's --pod-ready-delay.
func ParseDelays(s string) ([]Delay, error) {
	var out []Delay
	for _, e := range strings.Split(s, ";") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		i := strings.LastIndexByte(e, '=')
		if i <= 0 {
			return nil, fmt.Errorf("delay %q: want SELECTOR=DURATION", e)
		}
		d, err := time.ParseDuration(e[i+1:])
		if err != nil {
			return nil, fmt.Errorf("delay %q: %w", e, err)
		}
		out = append(out, Delay{Selector: e[:i], Duration: d})
	}
	return out, nil
}

// WriteResults writes every run, not only the medians, for a closer look.
func WriteResults(file string, res *Results) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(file, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	return nil
}
