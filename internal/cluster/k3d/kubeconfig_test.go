package k3d

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// k3dKubeconfig is a kubeconfig shaped as k3d's KubeconfigGet returns it.
func k3dKubeconfig(cluster, server string) *clientcmdapi.Config {
	name := ContextName(cluster)
	c := clientcmdapi.NewConfig()
	c.Clusters[name] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: []byte("ca")}
	c.AuthInfos["admin@"+name] = &clientcmdapi.AuthInfo{ClientCertificateData: []byte("cert"), ClientKeyData: []byte("key")}
	c.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: "admin@" + name}
	c.CurrentContext = name
	return c
}

// otherKubeconfig is the user's own kubeconfig with one context of theirs.
func otherKubeconfig(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	c := clientcmdapi.NewConfig()
	c.Clusters["work"] = &clientcmdapi.Cluster{Server: "https://work.example:6443"}
	c.AuthInfos["me"] = &clientcmdapi.AuthInfo{Token: "t"}
	c.Contexts["work"] = &clientcmdapi.Context{Cluster: "work", AuthInfo: "me"}
	c.CurrentContext = "work"
	if err := clientcmd.WriteToFile(*c, path); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func TestMergeKubeconfig(t *testing.T) {
	tests := []struct {
		name        string
		existing    bool
		mode        os.FileMode
		switchCtx   bool
		wantCurrent string
	}{
		{name: "new file", wantCurrent: "k3d-neuroscale", switchCtx: true},
		{name: "into the user's, switching", existing: true, mode: 0o644, switchCtx: true, wantCurrent: "k3d-neuroscale"},
		{name: "into the user's, not switching", existing: true, mode: 0o600, wantCurrent: "work"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "nested", "config")
			if tt.existing {
				if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
					t.Fatal(err)
				}
				otherKubeconfig(t, path, tt.mode)
			}
			ctx := context.Background()
			if err := MergeKubeconfig(ctx, path, k3dKubeconfig("neuroscale", "https://127.0.0.1:41234"), tt.switchCtx); err != nil {
				t.Fatal(err)
			}
			// A second merge (a re-run of up) replaces, never fails on, the
			// entries it wrote before.
			if err := MergeKubeconfig(ctx, path, k3dKubeconfig("neuroscale", "https://127.0.0.1:41235"), tt.switchCtx); err != nil {
				t.Fatalf("second merge: %v", err)
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("mode %v, want 0600", st.Mode().Perm())
			}
			got, err := clientcmd.LoadFromFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got.CurrentContext != tt.wantCurrent {
				t.Errorf("current context %q, want %q", got.CurrentContext, tt.wantCurrent)
			}
			if c := got.Clusters["k3d-neuroscale"]; c == nil || c.Server != "https://127.0.0.1:41235" {
				t.Errorf("cluster entry %+v, want the second server", c)
			}
			if tt.existing && got.Contexts["work"] == nil {
				t.Error("the user's own context was dropped")
			}
			entries, _ := os.ReadDir(filepath.Dir(path))
			if len(entries) != 1 {
				t.Errorf("directory holds %d files, want only the kubeconfig (no temporary files left)", len(entries))
			}

			if err := RemoveKubeconfigContext(path, "neuroscale"); err != nil {
				t.Fatal(err)
			}
			got, err = clientcmd.LoadFromFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got.Contexts["k3d-neuroscale"] != nil || got.Clusters["k3d-neuroscale"] != nil || got.AuthInfos["admin@k3d-neuroscale"] != nil {
				t.Errorf("cluster entries left after removal: %+v", got)
			}
			wantAfter := tt.wantCurrent
			if wantAfter == "k3d-neuroscale" {
				wantAfter = "" // never moved to a context the user did not pick
			}
			if got.CurrentContext != wantAfter {
				t.Errorf("current context after removal %q, want %q", got.CurrentContext, wantAfter)
			}
			if tt.existing && got.Contexts["work"] == nil {
				t.Error("removal dropped the user's own context")
			}
		})
	}
}

func TestRemoveKubeconfigContextMissing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "none")
	if err := RemoveKubeconfigContext(missing, "neuroscale"); err != nil {
		t.Errorf("missing file: %v", err)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Error("removal created a kubeconfig")
	}
	other := filepath.Join(dir, "config")
	otherKubeconfig(t, other, 0o644)
	before, _ := os.ReadFile(other)
	if err := RemoveKubeconfigContext(other, "neuroscale"); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(other)
	if string(before) != string(after) {
		t.Error("a kubeconfig without the cluster was rewritten")
	}
}
