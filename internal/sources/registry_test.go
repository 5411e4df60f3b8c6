package sources

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// newOCIRegistry serves one Helm chart the way an OCI distribution
// registry does (only the pull half of the protocol): /v2/, the manifest
// by tag or digest, and blobs by digest.
func newOCIRegistry(t *testing.T, repo, tag, chartName string, chart []byte) *httptest.Server {
	t.Helper()
	digest := func(b []byte) string {
		s := sha256.Sum256(b)
		return "sha256:" + hex.EncodeToString(s[:])
	}
	config, _ := json.Marshal(map[string]string{"apiVersion": "v2", "name": chartName, "version": tag})
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": digest(config), "size": len(config)},
		"layers":        []any{map[string]any{"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "digest": digest(chart), "size": len(chart)}},
	})
	blobs := map[string][]byte{digest(config): config, digest(chart): chart}
	serve := func(w http.ResponseWriter, r *http.Request, ct string, b []byte) {
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Docker-Content-Digest", digest(b))
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		if r.Method != http.MethodHead {
			w.Write(b)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case p == "/v2/" || p == "/v2":
			w.WriteHeader(http.StatusOK)
		case p == "/v2/"+repo+"/manifests/"+tag || p == "/v2/"+repo+"/manifests/"+digest(manifest):
			serve(w, r, "application/vnd.oci.image.manifest.v1+json", manifest)
		case strings.HasPrefix(p, "/v2/"+repo+"/blobs/"):
			b, ok := blobs[strings.TrimPrefix(p, "/v2/"+repo+"/blobs/")]
			if !ok {
				http.NotFound(w, r)
				return
			}
			serve(w, r, "application/octet-stream", b)
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}`))
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}
