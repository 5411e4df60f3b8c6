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

// catalogValidatePath has the catalog process an entity now, with its
// current rules and processors, and answer the errors (400) or 200.
const catalogValidatePath = "/api/catalog/validate-entity"

// Annotations a Location entity carries: where it was read from and the
// location it originates from, which the catalog's rules are matched
// against.
const (
	annotationLocation       = "backstage.io/managed-by-location"
	annotationOriginLocation = "backstage.io/managed-by-origin-location"
)

// locationEntity is a Location entity as GET catalogLocationsPath answers.
type locationEntity struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name        string            `json:"name"`
		Namespace   string            `json:"namespace,omitempty"`
		Annotations map[string]string `json:"annotations,omitempty"`
	} `json:"metadata"`
	Spec   json.RawMessage `json:"spec"`
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

// where is the location's type:target, for messages.
func (l locationEntity) where() string {
	var spec struct {
		Type   string `json:"type"`
		Target string `json:"target"`
	}
	_ = json.Unmarshal(l.Spec, &spec)
	return spec.Type + ":" + spec.Target
}

// CatalogProcessingRejections asks the catalog (through its API, at
// baseURL) whether it refuses an entity of one of its locations
// (NotAllowedError), and returns those refusals, one line each.
// Backstage 1.45's example backend does not log them (only the optional
// catalog-backend-module-logs does). The catalog keeps them in the
// Location entity's status.items, but only from its next processing of
// the location (every 100-150 s by default): after a rollout that dropped
// a location's rules, or one that restored them, the status shows the
// old verdict for minutes. So each Location is also processed now (POST
// catalogValidatePath), with the rules and files the running backend has,
// and that answer wins; the recorded status counts only when the catalog
// does not answer (no credentials, say).
//
// A Location entity whose first processing already failed is never
// shown by the catalog API (Backstage stitches only processed entities),
// so a rejection on a fresh install with a broken location is not found
// here; verify's catalog-template check still fails then.
func CatalogProcessingRejections(ctx context.Context, c *http.Client, baseURL string) ([]string, error) {
	code, body, err := do(ctx, c, http.MethodGet, baseURL+catalogLocationsPath, "")
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", catalogLocationsPath, err)
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("GET %s → %d: %s", catalogLocationsPath, code, excerpt(body))
	}
	var locs []locationEntity
	if err := json.Unmarshal(body, &locs); err != nil {
		return nil, fmt.Errorf("GET %s → 200 but not a list of entities: %w", catalogLocationsPath, err)
	}
	var out []string
	for _, l := range locs {
		refused, answered, err := validateLocation(ctx, c, baseURL, l)
		if err != nil {
			return out, err
		}
		if answered {
			for _, m := range refused {
				out = append(out, fmt.Sprintf("catalog: location %s (%s), processed now (POST %s): NotAllowedError: %s", l.Metadata.Name, l.where(), catalogValidatePath, m))
			}
			continue
		}
		for _, it := range l.Status.Items {
			if it.Error.Name == "NotAllowedError" || strings.Contains(it.Message, "NotAllowedError") {
				out = append(out, fmt.Sprintf("catalog: location %s (%s): %s", l.Metadata.Name, l.where(), it.Message))
			}
		}
	}
	return out, nil
}

// validateLocation has the catalog process Location entity l now and
// returns the messages of the NotAllowedErrors it answers; answered is
// false when the catalog gave no verdict. The request's location must be
// a url: location, but the entity's own location annotations take
// precedence over it (Backstage merges them after it), so the entity is
// processed from the location it came from, and the rules are matched
// against its own origin. An entity without those annotations is not
// asked about: it would be judged against the placeholder.
func validateLocation(ctx context.Context, c *http.Client, baseURL string, l locationEntity) (refused []string, answered bool, err error) {
	if l.Metadata.Annotations[annotationLocation] == "" || l.Metadata.Annotations[annotationOriginLocation] == "" {
		return nil, false, nil
	}
	req, err := json.Marshal(struct {
		Entity   any    `json:"entity"`
		Location string `json:"location"`
	}{
		Entity: struct {
			APIVersion string          `json:"apiVersion"`
			Kind       string          `json:"kind"`
			Metadata   any             `json:"metadata"`
			Spec       json.RawMessage `json:"spec"`
		}{l.APIVersion, l.Kind, l.Metadata, l.Spec},
		Location: "url:https://neuroscale.invalid/verify",
	})
	if err != nil {
		return nil, false, err
	}
	code, body, err := do(ctx, c, http.MethodPost, baseURL+catalogValidatePath, string(req))
	if err != nil {
		return nil, false, fmt.Errorf("POST %s: %w", catalogValidatePath, err)
	}
	switch code {
	case http.StatusOK:
		return nil, true, nil
	case http.StatusBadRequest:
	default:
		// 401 without a token in prod, a backend without the endpoint:
		// no verdict on the rules.
		return nil, false, nil
	}
	var answer struct {
		Errors []struct {
			Name    string `json:"name"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		return nil, false, fmt.Errorf("POST %s → 400 but not a list of errors: %w", catalogValidatePath, err)
	}
	for _, e := range answer.Errors {
		if e.Name == "NotAllowedError" {
			refused = append(refused, e.Message)
		}
	}
	return refused, true, nil
}
