package verify

import (
	"errors"
	"strings"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/forward"
)

func TestForPlatform(t *testing.T) {
	t.Parallel()
	r, err := config.Resolve(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A renamed forward is still found by its Service.
	r.Forwards[0].Name = "portal"
	tests := []struct {
		name          string
		eps           []forward.Endpoint
		wantBackstage string
		wantErr       string
	}{
		{"both up", []forward.Endpoint{{Name: "portal", URL: "http://127.0.0.1:7010"}, {Name: "demo", URL: "http://127.0.0.1:18080"}}, "http://127.0.0.1:7010", ""},
		{"backstage down", []forward.Endpoint{{Name: "portal", Err: errors.New("forward portal is waiting")}, {Name: "demo", URL: "http://127.0.0.1:18080"}}, "", "forward portal is waiting"},
		{"not opened", []forward.Endpoint{{Name: "demo", URL: "http://127.0.0.1:18080"}}, "", "forward portal was not opened"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, err := ForPlatform(r, &rest.Config{Host: "https://127.0.0.1:1"}, tt.eps)
			if err != nil {
				t.Fatal(err)
			}
			if o.BackstageURL != tt.wantBackstage || o.PredictorURL != "http://127.0.0.1:18080" {
				t.Errorf("URLs %q %q", o.BackstageURL, o.PredictorURL)
			}
			if (tt.wantErr == "") != (o.BackstageErr == nil) || (o.BackstageErr != nil && !strings.Contains(o.BackstageErr.Error(), tt.wantErr)) {
				t.Errorf("BackstageErr = %v, want %q", o.BackstageErr, tt.wantErr)
			}
			if o.GitOps {
				t.Error("GitOps on without a repository")
			}
		})
	}
	none := *r
	none.Forwards = nil
	o, _ := ForPlatform(&none, &rest.Config{Host: "https://127.0.0.1:1"}, nil)
	if o.PredictorErr == nil || !strings.Contains(o.PredictorErr.Error(), "no forward to the demo predictor is configured") {
		t.Errorf("PredictorErr = %v", o.PredictorErr)
	}
}
