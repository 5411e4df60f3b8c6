package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// catalogLocationsPath lists the catalog's Location entities, whose
// status holds the errors of processing them.
const catalogLocationsPath = "/api/catalog/entities?filter=kind=location"

// CatalogProcessingRejections asks the catalog (through its API, at
// baseURL) for the errors it recorded while processing its locations, and
// returns those that refuse an entity (NotAllowedError), one line each.
// Backstage 1.45's example backend does not log them (only the optional
// catalog-backend-module-logs does); the Location entity's
// status.items is where the catalog itself keeps them.
func CatalogProcessingRejections(ctx context.Context, c *http.Client, baseURL string) ([]string, error) {
	code, body, err := do(ctx, c, http.MethodGet, baseURL+catalogLocationsPath, "")
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", catalogLocationsPath, err)
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("GET %s → %d: %s", catalogLocationsPath, code, excerpt(body))
	}
	var locs []struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			Type   string `json:"type"`
			Target string `json:"target"`
		} `json:"spec"`
		Status struct {
			Items []struct {
				Level   string `json:"level"`
				Message string `json:"message"`
				Error   struct {
					Name string `json:"name"`
				} `json:"error"`
			} `json:"items"`
		} `json:"status"`
	}
	if err := json.Unmarshal(body, &locs); err != nil {
		return nil, fmt.Errorf("GET %s → 200 but not a list of entities: %w", catalogLocationsPath, err)
	}
	var out []string
	for _, l := range locs {
		for _, it := range l.Status.Items {
			if it.Error.Name == "NotAllowedError" || strings.Contains(it.Message, "NotAllowedError") {
				out = append(out, fmt.Sprintf("catalog: location %s (%s:%s): %s", l.Metadata.Name, l.Spec.Type, l.Spec.Target, it.Message))
			}
		}
	}
	return out, nil
}
