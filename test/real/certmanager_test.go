package real_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	certificateGVR = schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "certificates"}
	vwcGVR         = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingwebhookconfigurations"}
)

// checkCertManagerIssues applies the Issuer and Certificate that the
// rendered KServe component holds for its webhook server, as up would,
// and checks that the real cert-manager (installed by up, with its own
// webhook judging these objects) issues the certificate into its Secret
// and that the real cainjector puts its CA into a webhook configuration
// annotated like KServe's. KServe's own webhook configurations are not
// applied: no real KServe answers them yet, and with webhooks on they would
// refuse every InferenceService.
func (b *bench) checkCertManagerIssues(t *testing.T, kserve []*unstructured.Unstructured) {
	t.Helper()
	var cert *unstructured.Unstructured
	var applied []*unstructured.Unstructured
	var inject string
	for _, o := range kserve {
		switch {
		case o.GetKind() == "Namespace" && o.GetName() == "kserve":
			applied = append([]*unstructured.Unstructured{o}, applied...)
		case o.GroupVersionKind().Group == "cert-manager.io" && (o.GetKind() == "Issuer" || o.GetKind() == "Certificate"):
			applied = append(applied, o)
			if o.GetKind() == "Certificate" {
				cert = o
			}
		case o.GetKind() == "ValidatingWebhookConfiguration" && inject == "":
			inject = o.GetAnnotations()["cert-manager.io/inject-ca-from"]
		}
	}
	if cert == nil || inject == "" {
		t.Fatalf("rendered kserve: Certificate found=%v, webhook configuration with cert-manager.io/inject-ca-from found=%v", cert != nil, inject != "")
	}
	if len(applied) == 0 || applied[0].GetKind() != "Namespace" {
		ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "kserve"}}}
		applied = append([]*unstructured.Unstructured{ns}, applied...)
	}
	for _, o := range applied {
		b.apply(o)
	}

	secretName, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
	dnsNames, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
	waitFor(t, "Certificate "+cert.GetName()+" Ready, written by the real cert-manager", 3*time.Minute, func(ctx context.Context) (bool, error) {
		u, err := b.dyn.Resource(certificateGVR).Namespace(cert.GetNamespace()).Get(ctx, cert.GetName(), metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == "Ready" && m["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	})
	s, err := b.kube.CoreV1().Secrets(cert.GetNamespace()).Get(context.Background(), secretName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the issued Secret %s: %v", secretName, err)
	}
	block, _ := pem.Decode(s.Data[corev1.TLSCertKey])
	if block == nil {
		t.Fatalf("Secret %s holds no PEM certificate", secretName)
	}
	issued, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range dnsNames {
		if !slices.Contains(issued.DNSNames, n) {
			t.Errorf("issued certificate names %v, not %s of the Certificate's spec", issued.DNSNames, n)
		}
	}
	if s.Annotations["cert-manager.io/certificate-name"] != cert.GetName() {
		t.Errorf("Secret %s was not written by cert-manager for %s (annotations %v)", secretName, cert.GetName(), s.Annotations)
	}
	t.Logf("cert-manager issued %s for %v, valid until %s", secretName, issued.DNSNames, issued.NotAfter.Format(time.RFC3339))

	// cainjector: a webhook configuration annotated as KServe's, for a
	// resource no one creates, with failurePolicy Ignore.
	ignore, none := "Ignore", "None"
	path := "/validate"
	hook := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
		"metadata": map[string]any{"name": "bench-cainjector-probe", "annotations": map[string]any{"cert-manager.io/inject-ca-from": inject}},
		"webhooks": []any{map[string]any{
			"name": "probe.bench.neuroscale.dev", "admissionReviewVersions": []any{"v1"},
			"failurePolicy": ignore, "sideEffects": none,
			"clientConfig": map[string]any{"service": map[string]any{"namespace": "kserve", "name": "bench-nothing", "path": path}},
			"rules":        []any{map[string]any{"apiGroups": []any{"bench.neuroscale.dev"}, "apiVersions": []any{"v1"}, "operations": []any{"CREATE"}, "resources": []any{"nothings"}}},
		}},
	}}
	b.apply(hook)
	t.Cleanup(func() {
		if err := b.dyn.Resource(vwcGVR).Delete(context.Background(), hook.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete %s: %v", hook.GetName(), err)
		}
	})
	waitFor(t, "the real cainjector injects the CA of "+inject, 3*time.Minute, func(ctx context.Context) (bool, error) {
		u, err := b.dyn.Resource(vwcGVR).Get(ctx, hook.GetName(), metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		hooks, _, _ := unstructured.NestedSlice(u.Object, "webhooks")
		if len(hooks) == 0 {
			return false, nil
		}
		bundle, _, _ := unstructured.NestedString(hooks[0].(map[string]any), "clientConfig", "caBundle")
		return bundle != "", nil
	})
}
