package k3d

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	k3dclient "github.com/k3d-io/k3d/v5/pkg/client"
)

// kubeconfigPath is the file the cluster's context goes into: the
// configured one, or the file kubectl itself would write to (the first of
// $KUBECONFIG's files, else ~/.kube/config).
func kubeconfigPath(configured string) string {
	if configured != "" {
		return configured
	}
	return clientcmd.NewDefaultClientConfigLoadingRules().GetDefaultFilename()
}

// MergeKubeconfig merges add into the kubeconfig file at path, replacing
// entries of the same names and keeping every other cluster, user and
// context. switchContext makes add's current context the file's. The file
// is created if missing and always left with mode 0600: it holds the
// cluster's admin credentials.
func MergeKubeconfig(ctx context.Context, path string, add *clientcmdapi.Config, switchContext bool) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("kubeconfig directory: %w", err)
	}
	existing, err := loadKubeconfig(path)
	if err != nil {
		return err
	}
	if existing == nil {
		// k3d's writer resolves symlinks on the target, so the file must
		// exist before it writes; create it private from the start.
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("create kubeconfig: %w", err)
		}
		f.Close()
		existing = clientcmdapi.NewConfig()
	}
	if err := k3dclient.KubeconfigMerge(ctx, add, existing, path, true, switchContext); err != nil {
		return fmt.Errorf("merge kubeconfig %s: %w", path, err)
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	if err := os.Chmod(real, 0o600); err != nil {
		return fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	return nil
}

// RemoveKubeconfigContext deletes the cluster, user and context k3d named
// after the cluster from the kubeconfig file at path. A missing file or
// entry is not an error. When the current context was the cluster's, it is
// left unset rather than moved to some other context: the next kubectl
// command must not silently land on a cluster the user did not choose.
func RemoveKubeconfigContext(path, clusterName string) error {
	cfg, err := loadKubeconfig(path)
	if err != nil || cfg == nil {
		return err
	}
	name := ContextName(clusterName)
	user := "admin@" + name
	_, hadCtx := cfg.Contexts[name]
	_, hadCluster := cfg.Clusters[name]
	_, hadUser := cfg.AuthInfos[user]
	if !hadCtx && !hadCluster && !hadUser && cfg.CurrentContext != name {
		return nil
	}
	delete(cfg.Contexts, name)
	delete(cfg.Clusters, name)
	delete(cfg.AuthInfos, user)
	if cfg.CurrentContext == name {
		cfg.CurrentContext = ""
	}
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}

// loadKubeconfig reads path; nil without error when it does not exist.
func loadKubeconfig(path string) (*clientcmdapi.Config, error) {
	cfg, err := clientcmd.LoadFromFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read kubeconfig %s: %w", path, err)
	}
	return cfg, nil
}

// currentContext is the current context of the kubeconfig file at path;
// "" when the file or its current context does not exist.
func currentContext(path string) (string, error) {
	cfg, err := loadKubeconfig(path)
	if err != nil || cfg == nil {
		return "", err
	}
	return cfg.CurrentContext, nil
}
