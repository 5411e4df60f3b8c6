// Package content is neuroscale's own platform content: the chart values it
// generates for every Helm step and the data its embedded manifest
// templates (assets/components/**/*.tmpl) are executed with.
//
// Render owns the mechanics (Helm SDK, kustomize); this package owns what
// goes in, so that every fact learned the hard way (Kourier instead of
// Istio, Backstage values under the chart's backstage: key, probes that
// let Backstage start) lives in one reviewed place.
package content

import (
	"fmt"

	"github.com/neuroscale-dev/neuroscale/internal/config"
)

// Chart names, as in assets/catalog.yaml.
const (
	ChartCertManager     = "cert-manager"
	ChartKServeCRD       = "kserve-crd"
	ChartKServeResources = "kserve-resources"
	ChartArgoCD          = "argo-cd"
	ChartKyverno         = "kyverno"
	ChartBackstage       = "backstage"
)

// Inputs are facts render knows only at render time.
type Inputs struct {
	// SecretChecksums maps a consumer Deployment ("namespace/name") to a
	// checksum of the Secret it reads. It goes into that workload's pod
	// template annotations, so a changed secret rolls the pods: environment
	// variables from Secrets are only read at container start.
	SecretChecksums map[string]string
}

// ValuesChart returns the chart of component that takes the component's
// values (components.<name>.values), or "" when the component has no chart.
// KServe has two charts; its values go to kserve-resources because
// kserve-crd has nothing to tune.
func ValuesChart(component string) string {
	switch component {
	case config.CertManager:
		return ChartCertManager
	case config.KServe:
		return ChartKServeResources
	case config.ArgoCD:
		return ChartArgoCD
	case config.Kyverno:
		return ChartKyverno
	case config.Backstage:
		return ChartBackstage
	}
	return ""
}

// Values returns the values neuroscale installs chart with as part of
// component: its generated values, with the profile's and user's values
// (r.Component(component).Values) deep-merged over them when chart is the
// component's ValuesChart.
func Values(r *config.Resolved, component, chart string, in Inputs) (map[string]any, error) {
	var gen map[string]any
	switch chart {
	case ChartCertManager:
		gen = certManagerValues()
	case ChartKServeCRD:
		gen = map[string]any{}
	case ChartKServeResources:
		gen = kserveValues(r)
	case ChartArgoCD:
		gen = argoCDValues(r)
	case ChartKyverno:
		gen = kyvernoValues(r)
	case ChartBackstage:
		gen = backstageValues(r, in)
	default:
		return nil, fmt.Errorf("no values known for chart %q of component %q", chart, component)
	}
	if ValuesChart(component) != chart {
		return gen, nil
	}
	c := r.Component(component)
	if c == nil {
		return gen, nil
	}
	out := config.MergeValues(gen, c.Values)
	if out == nil {
		out = map[string]any{}
	}
	return out, nil
}
