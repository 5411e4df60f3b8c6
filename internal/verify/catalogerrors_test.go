package verify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// TestCatalogProcessingRejections reads the catalog's Location entities
// and has the catalog process them now, as Backstage 1.45.0 answers:
// testdata/locations-notallowed.json is the body the real backend
// (test/backstage) returned for GET /api/catalog/entities?filter=kind=location
// after a location lost its allow: [Template] rule and was reprocessed,
// testdata/validate-notallowed.json its answer to POST
// /api/catalog/validate-entity for that Location before it was (paths
// shortened to the pod's).
func TestCatalogProcessingRejections(t *testing.T) {
	t.Parallel()
	recorded, err := os.ReadFile("testdata/locations-notallowed.json")
	if err != nil {
		t.Fatal(err)
	}
	refused, err := os.ReadFile("testdata/validate-notallowed.json")
	if err != nil {
		t.Fatal(err)
	}
	const fileLocation = `[{"apiVersion":"backstage.io/v1alpha1","kind":"Location","metadata":{"name":"generated-40c9f70457d9bdfa569adbaa97660bb757a4239e","namespace":"default","annotations":{"backstage.io/managed-by-location":"file:/app/templates/model-endpoint/template.yaml","backstage.io/managed-by-origin-location":"file:/app/templates/model-endpoint/template.yaml"}},"spec":{"type":"file","target":"/app/templates/model-endpoint/template.yaml"}}]`
	tests := []struct {
		name           string
		locations      string
		validateStatus int    // 0: the endpoint must not be asked
		validateBody   string // its answer
		want           string // prefix of the joined lines; "" for none
	}{
		{"recorded in a Location's status, no verdict now (no credentials)", string(recorded), http.StatusUnauthorized, `{"error":{"name":"AuthenticationError"}}`,
			"catalog: location generated-40c9f70457d9bdfa569adbaa97660bb757a4239e (file:/app/templates/model-endpoint/template.yaml): NotAllowedError: Entity template:default/kserve-model-endpoint"},
		{"recorded, but the catalog accepts it now (rules restored)", string(recorded), http.StatusOK, "", ""},
		{"recorded and refused now", string(recorded), http.StatusBadRequest, string(refused), "catalog: location generated-40c9f70457d9bdfa569adbaa97660bb757a4239e (file:/app/templates/model-endpoint/template.yaml), processed now"},
		{"not recorded yet, the catalog refuses it now", fileLocation, http.StatusBadRequest, string(refused),
			"catalog: location generated-40c9f70457d9bdfa569adbaa97660bb757a4239e (file:/app/templates/model-endpoint/template.yaml), processed now (POST /api/catalog/validate-entity): NotAllowedError: Entity template:default/kserve-model-endpoint at file:/app/templates/model-endpoint/template.yaml, originated at file:/app/templates/model-endpoint/template.yaml, is not of an allowed kind for that location"},
		{"the catalog accepts it now", fileLocation, http.StatusOK, "", ""},
		{"other errors now are not rejections", fileLocation, http.StatusBadRequest, `{"errors":[{"name":"NotFoundError","message":"file not found"}]}`, ""},
		{"no credentials to ask (prod), nothing recorded", fileLocation, http.StatusUnauthorized, `{"error":{"name":"AuthenticationError"}}`, ""},
		{"no location annotations: not asked", `[{"kind":"Location","metadata":{"name":"l"},"spec":{"type":"file","target":"/x"}}]`, 0, "", ""},
		{"other processing errors are not rejections", `[{"metadata":{"name":"l"},"status":{"items":[{"level":"error","message":"InputError: bad yaml","error":{"name":"InputError"}}]}}]`, 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case r.Method == http.MethodGet && r.URL.Path == "/api/catalog/entities" && r.URL.Query().Get("filter") == "kind=location":
					_, _ = w.Write([]byte(tt.locations))
				case r.Method == http.MethodPost && r.URL.Path == catalogValidatePath:
					if tt.validateStatus == 0 {
						t.Errorf("POST %s, want no request", r.URL.Path)
					}
					checkValidateRequest(t, r.Body)
					w.WriteHeader(tt.validateStatus)
					_, _ = w.Write([]byte(tt.validateBody))
				default:
					http.NotFound(w, r)
				}
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

// checkValidateRequest checks that a validate-entity request sends the
// Location entity with its own location annotations (which Backstage
// prefers over the request's url: location) and without its status.
func checkValidateRequest(t *testing.T, body io.Reader) {
	t.Helper()
	var req struct {
		Entity struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Annotations map[string]string `json:"annotations"`
			} `json:"metadata"`
			Spec   map[string]any `json:"spec"`
			Status any            `json:"status"`
		} `json:"entity"`
		Location string `json:"location"`
	}
	if err := json.NewDecoder(body).Decode(&req); err != nil {
		t.Fatalf("validate request: %v", err)
	}
	if !strings.HasPrefix(req.Location, "url:") {
		t.Errorf("location %q, Backstage accepts only url: locations", req.Location)
	}
	if req.Entity.Kind != "Location" || req.Entity.Spec["target"] == nil || req.Entity.Status != nil {
		t.Errorf("entity %+v, want the Location with its spec and no status", req.Entity)
	}
	for _, a := range []string{annotationLocation, annotationOriginLocation} {
		if req.Entity.Metadata.Annotations[a] == "" {
			t.Errorf("entity without its %s annotation", a)
		}
	}
}
