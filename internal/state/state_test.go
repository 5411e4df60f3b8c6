package state

import (
	"context"
	"os"
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/neuroscale-dev/neuroscale/internal/testcluster"
)

func TestMain(m *testing.M) { os.Exit(testcluster.Main(m)) }

func TestUnionSorted(t *testing.T) {
	t.Parallel()
	cm := ObjectRef{Version: "v1", Kind: "ConfigMap", Namespace: "a", Name: "x"}
	crd := ObjectRef{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition", Name: "w.example"}
	dep := ObjectRef{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "a", Name: "x"}
	got := Union([]ObjectRef{dep, cm}, []ObjectRef{crd, cm})
	want := []ObjectRef{cm, crd, dep}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Union = %v, want %v", got, want)
	}
}

// TestSaveOnlyWhenChanged: a record with the same content is not written,
// so a no-op up leaves the records' resourceVersions alone; a changed one
// is, and Load reads back what Save wrote.
func TestSaveOnlyWhenChanged(t *testing.T) {
	c := testcluster.Get(t)
	ns := c.Namespace(t)
	s := NewStore(c.Client(t), ns)
	ctx := context.Background()
	rec := &Record{Component: "kserve", Version: "v0.20.0", Profile: "dev", Digest: "d1", Phase: Applied,
		AppliedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Needs: []string{"cert-manager"},
		Steps: []StepRecord{{Name: "kserve", Kind: "chart", Namespace: "kserve", Release: "kserve", Revision: 3,
			Objects: []ObjectRef{{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "kserve", Name: "kserve-controller-manager"}}}}}
	if err := s.Save(ctx, rec, nil); err != nil {
		t.Fatal(err)
	}
	rv := func() string {
		cm, err := c.Client(t).CoreV1().ConfigMaps(ns).Get(ctx, configMapName("kserve"), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return cm.ResourceVersion
	}
	first := rv()
	loaded, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(loaded["kserve"], rec) {
		t.Fatalf("Load = %+v, want %+v", loaded["kserve"], rec)
	}
	same := *rec
	if err := s.Save(ctx, &same, loaded["kserve"]); err != nil {
		t.Fatal(err)
	}
	if got := rv(); got != first {
		t.Fatalf("unchanged record rewritten: resourceVersion %s -> %s", first, got)
	}
	changed := *rec
	changed.Digest = "d2"
	if err := s.Save(ctx, &changed, loaded["kserve"]); err != nil {
		t.Fatal(err)
	}
	if got := rv(); got == first {
		t.Fatal("changed record not written")
	}
	if err := s.Delete(ctx, "kserve"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "kserve"); err != ErrNoRecord {
		t.Fatalf("after Delete: %v, want ErrNoRecord", err)
	}
}

// TestEnsureNamespaceWaitsForTermination: right after a down the records'
// namespace is still terminating, and writing into it fails; the next up
// must wait for it to go and create it again.
func TestEnsureNamespaceWaitsForTermination(t *testing.T) {
	c := testcluster.Get(t)
	kube := c.Client(t)
	ctx := context.Background()
	name := "neuroscale-state-" + time.Now().Format("150405.000000")[7:]
	s := NewStore(kube, name)
	if err := s.EnsureNamespace(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, &Record{Component: "demo", Digest: "x", Phase: Applied}, nil); err != nil {
		t.Fatal(err)
	}
	deleted, err := s.DeleteAll(ctx)
	if err != nil || !deleted {
		t.Fatalf("DeleteAll: deleted=%v err=%v", deleted, err)
	}
	if _, err := kube.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{}); err == nil {
		t.Fatal("DeleteAll returned before the namespace was gone")
	}
	if err := s.EnsureNamespace(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, &Record{Component: "demo", Digest: "x", Phase: Applied}, nil); err != nil {
		t.Fatalf("write after re-creating the namespace: %v", err)
	}
	// Deleted by someone else: EnsureNamespace finds it terminating.
	if err := kube.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureNamespace(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, &Record{Component: "demo", Digest: "y", Phase: Applied}, nil); err != nil {
		t.Fatalf("write right after the namespace was deleted: %v", err)
	}
	t.Cleanup(func() { _ = kube.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{}) })
}
