package verify

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// TestCatalogProcessingRejections reads the catalog's Location entities
// as Backstage 1.45.0 answers them: testdata/locations-notallowed.json is
// the body the real backend (test/backstage) returned for
// GET /api/catalog/entities?filter=kind=location after a location lost its
// allow: [Template] rule (paths shortened to the pod's).
func TestCatalogProcessingRejections(t *testing.T) {
	t.Parallel()
	rejected, err := os.ReadFile("testdata/locations-notallowed.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		body string
		want string
	}{
		{"real NotAllowedError in a Location's status", string(rejected), "catalog: location generated-40c9f70457d9bdfa569adbaa97660bb757a4239e (file:/app/templates/model-endpoint/template.yaml): NotAllowedError: Entity template:default/kserve-model-endpoint"},
		{"no status", `[{"metadata":{"name":"l"},"spec":{"type":"file","target":"/x"}}]`, ""},
		{"other processing errors are not rejections", `[{"metadata":{"name":"l"},"status":{"items":[{"level":"error","message":"InputError: bad yaml","error":{"name":"InputError"}}]}}]`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/api/catalog/entities" || r.URL.Query().Get("filter") != "kind=location" {
					http.NotFound(w, r)
					return
				}
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			got, err := CatalogProcessingRejections(context.Background(), srv.Client(), srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			joined := strings.Join(got, "\n")
			if tt.want == "" && joined != "" || tt.want != "" && !strings.HasPrefix(joined, tt.want) {
				t.Errorf("got %q, want prefix %q", joined, tt.want)
			}
		})
	}
}
