package engine

import (
	"context"
	"maps"
	"reflect"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// Helm reads what releaseSecrets writes, and the Secret is the one Helm's
// own driver would write (type, labels; only the compression differs).
func TestReleaseSecretsAreHelms(t *testing.T) {
	cs := fake.NewClientset()
	helmSecrets := cs.CoreV1().Secrets("helm")
	ours := cs.CoreV1().Secrets("ours")
	rel := &release.Release{
		Name: "kyverno", Namespace: "kyverno", Version: 2,
		Info:     &release.Info{Status: release.StatusPendingInstall, Description: "Install"},
		Chart:    &chart.Chart{Metadata: &chart.Metadata{Name: "kyverno", Version: "3.9.0"}, Templates: []*chart.File{{Name: "templates/a.yaml", Data: []byte("kind: ConfigMap\n")}}},
		Manifest: "---\nkind: ConfigMap\n",
		Labels:   map[string]string{"team": "platform"},
	}
	if err := driver.NewSecrets(helmSecrets).Create("sh.helm.release.v1.kyverno.v2", rel); err != nil {
		t.Fatal(err)
	}
	d := &releaseSecrets{Secrets: driver.NewSecrets(ours), secrets: ours}
	if err := d.Create("sh.helm.release.v1.kyverno.v2", rel); err != nil {
		t.Fatal(err)
	}
	if err := d.Create("sh.helm.release.v1.kyverno.v2", rel); err != driver.ErrReleaseExists {
		t.Errorf("second create: %v, want ErrReleaseExists", err)
	}
	rel.Info.Status = release.StatusDeployed
	if err := d.Update("sh.helm.release.v1.kyverno.v2", rel); err != nil {
		t.Fatal(err)
	}
	got, err := driver.NewSecrets(ours).Get("sh.helm.release.v1.kyverno.v2")
	if err != nil {
		t.Fatal(err)
	}
	if got.Info.Status != release.StatusDeployed || got.Manifest != rel.Manifest || !reflect.DeepEqual(got.Chart.Templates, rel.Chart.Templates) || got.Labels["team"] != "platform" {
		t.Errorf("helm read back %+v", got)
	}
	want, err := helmSecrets.Get(context.Background(), "sh.helm.release.v1.kyverno.v2", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	have, err := ours.Get(context.Background(), "sh.helm.release.v1.kyverno.v2", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wl, hl := maps.Clone(want.Labels), maps.Clone(have.Labels)
	delete(wl, "createdAt")
	delete(hl, "createdAt")
	delete(hl, "modifiedAt")
	wl["status"] = "deployed"
	if have.Type != want.Type || !maps.Equal(wl, hl) || have.Labels["modifiedAt"] == "" {
		t.Errorf("secret type %s labels %v, want Helm's %s %v (and modifiedAt)", have.Type, have.Labels, want.Type, want.Labels)
	}
}
