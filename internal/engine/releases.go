package engine

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
)

// maxReleaseData is the most a release Secret's data may hold: the API
// server refuses a Secret over 1 MiB.
const maxReleaseData = 1 << 20

// releaseSecrets is Helm's Secrets storage driver, writing the same
// Secrets (helm.sh/release.v1: base64 of gzip of the release's JSON, the
// same labels), so helm and older neuroscale read them as before, but
// compressed at gzip's default level rather than its best. Helm rewrites
// the whole release, chart and rendered manifest included (several MB of
// JSON for Kyverno, ArgoCD or KServe's CRDs), on each hook and status
// change; at the best level that deflate was a quarter of a cold up's CPU,
// for a Secret about 1.5% smaller. A release that would not fit a Secret
// at the default level is written at the best one, as Helm would.
type releaseSecrets struct {
	*driver.Secrets
	secrets corev1client.SecretInterface
}

// Create implements driver.Creator.
func (s *releaseSecrets) Create(key string, rls *release.Release) error {
	obj, err := releaseSecret(key, rls, "createdAt")
	if err != nil {
		return fmt.Errorf("create: failed to encode release %q: %w", rls.Name, err)
	}
	if _, err := s.secrets.Create(context.Background(), obj, metav1.CreateOptions{}); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return driver.ErrReleaseExists
		}
		return fmt.Errorf("create: failed to create: %w", err)
	}
	return nil
}

// Update implements driver.Updator.
func (s *releaseSecrets) Update(key string, rls *release.Release) error {
	obj, err := releaseSecret(key, rls, "modifiedAt")
	if err != nil {
		return fmt.Errorf("update: failed to encode release %q: %w", rls.Name, err)
	}
	if _, err := s.secrets.Update(context.Background(), obj, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update: failed to update: %w", err)
	}
	return nil
}

// releaseSecret is Helm's release Secret for rls (its driver's
// newSecretsObject), stamped with the time label stamp.
func releaseSecret(key string, rls *release.Release, stamp string) (*corev1.Secret, error) {
	data, err := encodeRelease(rls, gzip.DefaultCompression)
	if err == nil && len(data) > maxReleaseData {
		data, err = encodeRelease(rls, gzip.BestCompression)
	}
	if err != nil {
		return nil, err
	}
	labels := make(map[string]string, len(rls.Labels)+5)
	for k, v := range rls.Labels {
		labels[k] = v
	}
	labels[stamp] = strconv.FormatInt(time.Now().Unix(), 10)
	labels["name"] = rls.Name
	labels["owner"] = "helm"
	labels["status"] = rls.Info.Status.String()
	labels["version"] = strconv.Itoa(rls.Version)
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: key, Labels: labels},
		Type:       "helm.sh/release.v1",
		Data:       map[string][]byte{"release": data},
	}, nil
}

// encodeRelease is Helm's release encoding at the given gzip level.
func encodeRelease(rls *release.Release, level int) ([]byte, error) {
	js, err := json.Marshal(rls)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	w, err := gzip.NewWriterLevel(&buf, level)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(js); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	out := make([]byte, base64.StdEncoding.EncodedLen(buf.Len()))
	base64.StdEncoding.Encode(out, buf.Bytes())
	return out, nil
}
