// Package verifytest has HTTP stand-ins for the parts of the platform that
// verify and doctor talk to: Backstage's catalog and scaffolder APIs and
// the demo model's predict endpoint. Tests put them behind a real
// port-forward of the test cluster, or call them directly, and switch
// their state to play a broken platform.
package verifytest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// Backstage plays Backstage's backend. The zero value is a healthy one with
// no templates; set fields (under its lock, through Set) to break it.
type Backstage struct {
	mu sync.Mutex
	s  BackstageState
}

// BackstageState is what the stand-in answers.
type BackstageState struct {
	// Templates are the names of the Template entities in the catalog.
	Templates []string
	// ActionsStatus is the status of /api/scaffolder/v2/actions; 200 when 0.
	ActionsStatus int
	// CatalogStatus is the status of /api/catalog/entities; 200 when 0.
	CatalogStatus int
	// GuestStatus is the status of the guest sign-in
	// (/api/auth/guest/refresh); 200 when 0, 403 answers Backstage's
	// NotAllowedError for a guest provider not allowed in production.
	GuestStatus int
	// NotReady makes the readiness endpoint answer 503.
	NotReady bool
	// DryRunFiles are what the scaffolder's dry-run answers it rendered,
	// by path; NAME in a path or content becomes the value of the name
	// parameter. The stand-in renders nothing itself: tests that need
	// Backstage's own rendering run the real backend (test/backstage).
	DryRunFiles map[string]string
	// DryRunError makes the dry-run answer 500 with this message.
	DryRunError string
}

// standInTemplate is the Template the stand-in's catalog serves by name:
// one parameter, passed to fetch:template.
func standInTemplate(name string) map[string]any {
	return map[string]any{
		"apiVersion": "scaffolder.backstage.io/v1beta3",
		"kind":       "Template",
		"metadata":   map[string]any{"name": name, "namespace": "default"},
		"spec": map[string]any{
			"parameters": []any{map[string]any{"properties": map[string]any{"name": map[string]any{"type": "string"}}}},
			"steps": []any{map[string]any{"id": "fetch", "action": "fetch:template",
				"input": map[string]any{"url": "./skeleton", "values": map[string]any{"name": "${{ parameters.name }}"}}}},
		},
	}
}

// NewBackstage returns a stand-in in state s.
func NewBackstage(s BackstageState) *Backstage { return &Backstage{s: s} }

// Set replaces the state.
func (b *Backstage) Set(s BackstageState) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.s = s
}

func (b *Backstage) state() BackstageState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.s
}

// ServeHTTP answers the endpoints neuroscale uses, like Backstage does.
func (b *Backstage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := b.state()
	switch r.URL.Path {
	case "/.backstage/health/v1/readiness", "/.backstage/health/v1/liveness":
		if s.NotReady {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "error", "message": "Backend has not started yet"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	case "/api/catalog/entities":
		if s.CatalogStatus != 0 && s.CatalogStatus != http.StatusOK {
			writeJSON(w, s.CatalogStatus, map[string]any{"error": map[string]any{"name": "Error", "message": "catalog unavailable"}})
			return
		}
		kind := ""
		for _, f := range r.URL.Query()["filter"] {
			if k, ok := strings.CutPrefix(f, "kind="); ok {
				kind = k
			}
		}
		entities := []any{}
		if kind == "" || strings.EqualFold(kind, "template") {
			for _, n := range s.Templates {
				entities = append(entities, map[string]any{
					"apiVersion": "scaffolder.backstage.io/v1beta3",
					"kind":       "Template",
					"metadata":   map[string]any{"name": n, "namespace": "default"},
				})
			}
		}
		writeJSON(w, http.StatusOK, entities)
	case "/api/auth/guest/refresh":
		switch s.GuestStatus {
		case 0, http.StatusOK:
			writeJSON(w, http.StatusOK, map[string]any{"profile": map[string]any{}, "backstageIdentity": map[string]any{
				"token": "stand-in-token", "identity": map[string]any{"type": "user", "userEntityRef": "user:development/guest", "ownershipEntityRefs": []any{"user:development/guest"}},
			}})
		case http.StatusForbidden:
			writeJSON(w, http.StatusForbidden, map[string]any{"error": map[string]any{"name": "NotAllowedError",
				"message": "The guest provider cannot be used outside of a development environment unless 'auth.providers.guest.dangerouslyAllowOutsideDevelopment' is enabled"}})
		default:
			writeJSON(w, s.GuestStatus, map[string]any{"error": map[string]any{"name": "Error"}})
		}
	case "/api/scaffolder/v2/dry-run":
		b.dryRun(w, r, s)
	case "/api/scaffolder/v2/actions":
		if s.ActionsStatus == http.StatusUnauthorized {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]any{"name": "AuthenticationError", "message": "Missing credentials"}})
			return
		}
		if s.ActionsStatus != 0 && s.ActionsStatus != http.StatusOK {
			writeJSON(w, s.ActionsStatus, map[string]any{"error": map[string]any{"name": "Error"}})
			return
		}
		writeJSON(w, http.StatusOK, []any{
			map[string]any{"id": "fetch:template"},
			map[string]any{"id": "publish:github:pull-request"},
		})
	default:
		if name, ok := strings.CutPrefix(r.URL.Path, "/api/catalog/entities/by-name/template/default/"); ok && slices.Contains(s.Templates, name) {
			writeJSON(w, http.StatusOK, standInTemplate(name))
			return
		}
		http.NotFound(w, r)
	}
}

// dryRun answers POST /api/scaffolder/v2/dry-run with DryRunFiles.
func (b *Backstage) dryRun(w http.ResponseWriter, r *http.Request, s BackstageState) {
	var in struct {
		Values map[string]any `json:"values"`
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &in); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{"name": "InputError", "message": "Malformed request"}})
		return
	}
	if s.DryRunError != "" {
		writeJSON(w, http.StatusInternalServerError, map[string]any{"error": map[string]any{"name": "Error", "message": s.DryRunError}})
		return
	}
	name := fmt.Sprint(in.Values["name"])
	var files []any
	for p, c := range s.DryRunFiles {
		files = append(files, map[string]any{
			"path":          strings.ReplaceAll(p, "NAME", name),
			"base64Content": base64.StdEncoding.EncodeToString([]byte(strings.ReplaceAll(c, "NAME", name))),
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"log": []any{}, "directoryContents": files, "output": map[string]any{}})
}

// Predictor plays the demo model's KServe v1 endpoints.
type Predictor struct {
	mu sync.Mutex
	// predictions answered; nil answers 503 (model not loaded).
	predictions []int
	model       string
}

// NewPredictor returns a stand-in for model answering predictions.
func NewPredictor(model string, predictions []int) *Predictor {
	return &Predictor{model: model, predictions: predictions}
}

// SetPredictions replaces the answer; nil makes the model unavailable.
func (p *Predictor) SetPredictions(pred []int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.predictions = pred
}

// ServeHTTP answers GET /v1/models/NAME and POST /v1/models/NAME:predict.
func (p *Predictor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	pred := p.predictions
	p.mu.Unlock()
	base := "/v1/models/" + p.model
	switch {
	case r.URL.Path == base && r.Method == http.MethodGet:
		if pred == nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": "Model with name " + p.model + " is not ready."})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"name": p.model, "ready": true})
	case r.URL.Path == base+":predict" && r.Method == http.MethodPost:
		var in struct {
			Instances [][]float64 `json:"instances"`
		}
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &in); err != nil || len(in.Instances) == 0 {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid input"})
			return
		}
		if pred == nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": "Model with name " + p.model + " is not ready."})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"predictions": pred})
	default:
		http.NotFound(w, r)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
