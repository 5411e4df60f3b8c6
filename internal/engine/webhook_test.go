package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/neuroscale-dev/neuroscale/internal/render"
	"github.com/neuroscale-dev/neuroscale/internal/testcluster"
)

// TestWebhookThatDoesNotAnswer registers a webhook whose Service has a
// ready endpoint (the pod is simulated, so nothing listens), on a cluster
// whose API server calls webhooks: the endpoints check passes, and only
// the dry-run of a sample shows that the webhook cannot answer.
func TestWebhookThatDoesNotAnswer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts its own test cluster")
	}
	if why := testcluster.CanBuild(); why != "" {
		t.Skip(why)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testcluster.StartTimeout)
	defer cancel()
	c, err := testcluster.Start(ctx, testcluster.WithWebhooks(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	guarded := c.Namespace(t)
	kube := c.Client(t)
	nsObj, err := kube.CoreV1().Namespaces().Get(ctx, guarded, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nsObj.Labels["guarded"] = "yes"
	if _, err := kube.CoreV1().Namespaces().Update(ctx, nsObj, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	sample := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"generateName": "probe-", "namespace": guarded},
	}}
	e := newEngine(t, c, Options{Samples: []*unstructured.Unstructured{sample}})

	ns := uniq(t, "deaf")
	step := &render.Step{Kind: render.StepManifest, Name: "webhook", Namespace: ns, Objects: []*unstructured.Unstructured{
		obj(t, fmt.Sprintf(`{apiVersion: v1, kind: Namespace, metadata: {name: %s}}`, ns)),
		deployment(t, ns, "deaf", false, ""),
		service(t, ns, "deaf-webhook", "deaf"),
		obj(t, fmt.Sprintf(`
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: %s}
webhooks:
- name: deaf.test.neuroscale.dev
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: Fail
  timeoutSeconds: 2
  clientConfig: {service: {name: deaf-webhook, namespace: %s, path: /validate}}
  namespaceSelector: {matchLabels: {guarded: "yes"}}
  rules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}]
`, ns, ns)),
	}}
	err = e.Converge(ctx, component(t, "deaf", ns, nil, step), Spec{Timeout: 5 * time.Second})
	var we *WebhookError
	if !errors.As(err, &we) {
		t.Fatalf("converge: %v, want a WebhookError", err)
	}
	if we.Service != "deaf-webhook" || !strings.Contains(we.Reason, "a dry-run create of a ConfigMap got no answer") {
		t.Fatalf("webhook error %q, want the dry-run of the sample to have failed", err)
	}
	// The endpoints were there: it is the answer that is missing.
	slices, err := kube.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=deaf-webhook"})
	if err != nil || readyEndpoints(slices.Items) == 0 {
		t.Fatalf("the webhook service has no ready endpoint (%v), so this did not test the dry-run", err)
	}
}
