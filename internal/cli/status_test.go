package cli

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/neuroscale-dev/neuroscale/internal/content"
	"github.com/neuroscale-dev/neuroscale/internal/testcluster"
)

// TestShowPassword reads ArgoCD's admin password from a real API server,
// through the same probe and kubeconfig path every cluster command takes,
// only when asked.
func TestShowPassword(t *testing.T) {
	c := testcluster.Get(t)
	cs, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: content.ArgoCDNamespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.CoreV1().Namespaces().Delete(context.Background(), content.ArgoCDNamespace, metav1.DeleteOptions{})
	})
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: content.ArgoCDAdminSecret, Namespace: content.ArgoCDNamespace},
		Data: map[string][]byte{"password": []byte("Xq7-admin-pw")}}
	if _, err := cs.CoreV1().Secrets(content.ArgoCDNamespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := run(ctx, "", nil, "status", "--endpoints", "--show-password", "--kubeconfig", c.Kubeconfig)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "argocd admin password: Xq7-admin-pw\n") {
		t.Errorf("password not printed on request:\n%s", stdout)
	}
	code, stdout, stderr = run(ctx, "", nil, "status", "--endpoints", "--kubeconfig", c.Kubeconfig, "-o", "json")
	if code != 0 || strings.Contains(stdout+stderr, "Xq7-admin-pw") {
		t.Errorf("exit %d; the password was printed unasked:\n%s", code, stdout)
	}
}
