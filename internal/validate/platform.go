package validate

import (
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/content"
	"github.com/neuroscale-dev/neuroscale/internal/render"
)

// lastAppliedLimit is the most annotation bytes the API server accepts on
// one object; client-side apply stores the whole object in one.
const lastAppliedLimit = 262144

// knativeIngress: without Kourier as Knative's ingress class, Knative asks
// Istio for routes and no InferenceService ever becomes Ready.
func (c *check) knativeIngress() {
	if c.component(config.KnativeServing) == nil {
		return
	}
	cm := c.object(config.KnativeServing, "ConfigMap", "config-network")
	if cm == nil {
		c.add(Finding{ID: RuleKnativeIngress, Severity: Error, Object: "ConfigMap knative-serving/config-network",
			Message: "Knative Serving rendered without config-network",
			Fix:     "render the knative-serving component from the catalog's release manifests"})
		return
	}
	class, _, _ := unstructured.NestedString(cm.Object, "data", "ingress-class")
	if class == "" {
		// The key Knative read before 1.x; still honoured.
		class, _, _ = unstructured.NestedString(cm.Object, "data", "ingress.class")
	}
	if class != content.KourierIngressClass {
		shown := class
		if shown == "" {
			shown = "unset (Knative defaults to Istio)"
		}
		c.add(Finding{ID: RuleKnativeIngress, Severity: Error, Object: objectName(cm), Path: "data.ingress-class",
			Message: fmt.Sprintf("Knative's ingress class is %s, not Kourier: routes are never programmed and InferenceServices never become Ready", shown),
			Fix:     "ingress-class: " + content.KourierIngressClass + " (neuroscale's knative-serving overlay sets it)"})
	}
	if c.component(config.Kourier) == nil {
		c.add(Finding{ID: RuleKnativeIngress, Severity: Error, Object: "component kourier",
			Position: c.pos([]string{"components", "kourier", "enabled"}),
			Message:  "Kourier is disabled but Knative Serving is on: nothing serves Knative's routes",
			Fix:      "enable components.kourier"})
	}
}

// ApplyNotes lists the objects of p too large for client-side apply (the
// InferenceService CRD is one): `kubectl apply` without --server-side
// fails on them. neuroscale always applies server-side, so they matter
// only to someone applying rendered files by hand: render prints them,
// validate and up do not.
func ApplyNotes(p *render.Platform) []Finding {
	var out []Finding
	for _, comp := range p.Components {
		for _, o := range comp.Objects() {
			b, err := json.Marshal(o.Object)
			if err != nil || len(b) <= lastAppliedLimit {
				continue
			}
			out = append(out, Finding{ID: RuleSSARequired, Severity: Warning, Object: objectName(o),
				Message: fmt.Sprintf("is %d bytes, over client-side apply's limit of %d", len(b), lastAppliedLimit),
				Fix:     "kubectl apply --server-side"})
		}
	}
	return out
}

// gitopsMissing: without a GitOps repository the template's pull-request
// step has nowhere to go, and nothing deploys what it would open.
func (c *check) gitopsMissing() {
	if c.r.GitOps != nil || !c.r.Enabled(config.Backstage) {
		return
	}
	c.add(Finding{ID: RuleGitOpsMissing, Severity: Warning, Object: "gitops",
		Message: fmt.Sprintf("no gitops repository is configured: the %s template asks for a repository on every run and no ApplicationSet deploys what is merged; the Golden Path stops at the demo", content.TemplateName),
		Fix:     "add gitops: {repo: https://github.com/OWNER/NAME, branch: main} to neuroscale.yaml"})
}
