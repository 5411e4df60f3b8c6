package content

import "github.com/neuroscale-dev/neuroscale/internal/config"

// certManagerValues turns on CRDs: the chart installs none by default, and
// KServe's Certificate and Issuer need them.
func certManagerValues() map[string]any {
	return map[string]any{
		"crds": map[string]any{"enabled": true},
	}
}

// kserveValues run KServe in Knative mode behind Kourier. The chart has no
// Kourier switch and defaults to Istio's gateways, so InferenceServices
// would wait forever for an Istio VirtualService and gateway.
func kserveValues(_ *config.Resolved) map[string]any {
	return map[string]any{
		"kserve": map[string]any{
			"controller": map[string]any{
				"deploymentMode": "Knative",
				"gateway": map[string]any{
					"domain":                  IngressDomain,
					"disableIstioVirtualHost": true,
					"localGateway": map[string]any{
						"gatewayService":        KourierInternalService,
						"knativeGatewayService": KourierInternalService,
					},
				},
			},
		},
	}
}

// argoCDValues are dev-sized defaults: no Dex (nobody configures SSO on a
// laptop) and no notifications controller, to save memory.
func argoCDValues(_ *config.Resolved) map[string]any {
	return map[string]any{
		"dex":           map[string]any{"enabled": false},
		"notifications": map[string]any{"enabled": false},
	}
}

// kyvernoValues keep the chart's defaults.
func kyvernoValues(_ *config.Resolved) map[string]any {
	return map[string]any{}
}
