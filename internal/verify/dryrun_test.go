package verify

import (
	"encoding/json"
	"slices"
	"testing"
)

// TestWithoutPublishSteps: without a GitHub token the dry-run is retried
// without the publish steps and the output that names their results; the
// fetch:template step, which renders the skeleton, stays.
func TestWithoutPublishSteps(t *testing.T) {
	t.Parallel()
	entity := []byte(`{"kind":"Template","spec":{"parameters":[],"steps":[
		{"id":"fetch","action":"fetch:template","input":{"url":"./skeleton"}},
		{"id":"publish","action":"publish:github:pull-request","input":{"repoUrl":"github.com?repo=x"}}],
		"output":{"links":[{"url":"${{ steps.publish.output.remoteUrl }}"}]}}}`)
	out, removed, err := withoutPublishSteps(entity)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(removed, []string{"publish"}) {
		t.Errorf("removed = %v, want [publish]", removed)
	}
	var e struct {
		Spec struct {
			Steps []struct {
				ID string `json:"id"`
			} `json:"steps"`
			Output any `json:"output"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(out, &e); err != nil {
		t.Fatal(err)
	}
	if len(e.Spec.Steps) != 1 || e.Spec.Steps[0].ID != "fetch" || e.Spec.Output != nil {
		t.Errorf("stripped template = %s, want only the fetch step and no output", out)
	}

	// A Template without publish steps is left as it is.
	plain := []byte(`{"spec":{"steps":[{"id":"fetch","action":"fetch:template"}]}}`)
	if out, removed, err := withoutPublishSteps(plain); err != nil || removed != nil || string(out) != string(plain) {
		t.Errorf("plain template changed: %s %v %v", out, removed, err)
	}
}

// TestBackstageError: the error of a failed dry-run is one line of
// evidence; the first body is what the real backend (test/backstage)
// answered for a skeleton using an unknown filter.
func TestBackstageError(t *testing.T) {
	t.Parallel()
	tests := []struct{ body, want string }{
		{`{"error":{"name":"Error","message":"(unknown path)\n  Error: filter not found: nosuchfilter"},"request":{"method":"POST","url":"/v2/dry-run"},"response":{"statusCode":500}}`,
			"Error: (unknown path) Error: filter not found: nosuchfilter"},
		{`{"error":{"name":"InputError","message":"No token available for host: github.com"}}`, "InputError: No token available for host: github.com"},
	}
	for _, tt := range tests {
		if got := backstageError([]byte(tt.body)); got != tt.want {
			t.Errorf("backstageError(%s) = %q, want %q", tt.body, got, tt.want)
		}
	}
}
