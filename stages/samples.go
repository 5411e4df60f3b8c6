package stages

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/neuroscale-dev/neuroscale/internal/state"
)

// Samples are objects the platform's admission webhooks intercept. Before
// a component's dependents start, the engine server-side dry-run creates,
// for each webhook the component registered, the first sample the
// webhook's rules match: a webhook can have endpoints and still not answer
// (wrong port, a certificate the API server rejects, the seed's
// kube-rbac-proxy answering 403), and then nothing it intercepts can be
// created. Dry-run writes nothing. Specific kinds come first; the
// ConfigMap last catches webhooks that intercept everything (Kyverno's).
func Samples() []*unstructured.Unstructured {
	return []*unstructured.Unstructured{
		sample("cert-manager.io/v1", "Issuer", map[string]any{"selfSigned": map[string]any{}}),
		sample("serving.knative.dev/v1", "Service", map[string]any{
			"template": map[string]any{"spec": map[string]any{"containers": []any{
				map[string]any{"image": "registry.k8s.io/pause:3.10"},
			}}},
		}),
		sample("serving.kserve.io/v1beta1", "InferenceService", map[string]any{
			"predictor": map[string]any{"model": map[string]any{
				"modelFormat": map[string]any{"name": "sklearn"},
				"storageUri":  "gs://kfserving-examples/models/sklearn/1.0/model",
			}},
		}),
		{Object: map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": probeMeta(),
			"data":     map[string]any{"probe": "neuroscale admission webhook check"},
		}},
	}
}

func sample(apiVersion, kind string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": apiVersion, "kind": kind, "metadata": probeMeta(), "spec": spec,
	}}
}

// probeMeta names samples so that a webhook's logs show where the request
// came from; the namespace is left to the engine (its records' namespace,
// where no platform policy applies).
func probeMeta() map[string]any {
	return map[string]any{
		"generateName": "neuroscale-webhook-probe-",
		"labels": map[string]any{
			state.LabelManagedBy:           state.ManagedBy,
			"neuroscale.dev/webhook-probe": "true",
		},
	}
}
