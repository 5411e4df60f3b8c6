package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestModelServer(t *testing.T) {
	srv := httptest.NewServer(modelHandler("demo-iris-2"))
	defer srv.Close()
	for _, tc := range []struct {
		name, method, path, body string
		code                     int
		want                     string
	}{
		{"ready", "GET", "/v1/models/demo-iris-2", "", 200, `{"name":"demo-iris-2","ready":true}`},
		{"golden path instances are versicolor", "POST", "/v1/models/demo-iris-2:predict", `{"instances":[[6.8,2.8,4.8,1.4],[6.0,3.4,4.5,1.6]]}`, 200, `{"predictions":[1,1]}`},
		{"setosa and virginica", "POST", "/v1/models/demo-iris-2:predict", `{"instances":[[5.1,3.5,1.4,0.2],[6.3,3.3,6.0,2.5]]}`, 200, `{"predictions":[0,2]}`},
		{"unknown model", "GET", "/v1/models/other", "", 404, `{"error":"Model with name other does not exist."}`},
		{"wrong width", "POST", "/v1/models/demo-iris-2:predict", `{"instances":[[1,2,3]]}`, 400, `"instance 0 has 3 features, want 4`},
		{"not json", "POST", "/v1/models/demo-iris-2:predict", `nope`, 400, `"error"`},
		{"no instances", "POST", "/v1/models/demo-iris-2:predict", `{}`, 400, `want {\"instances\"`},
		{"alive", "GET", "/", "", 200, `{"status":"alive"}`},
		{"list", "GET", "/v1/models", "", 200, `{"models":["demo-iris-2"]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.want) {
				t.Fatalf("%s %s: %d %s, want %d containing %s", tc.method, tc.path, resp.StatusCode, b, tc.code, tc.want)
			}
		})
	}
}

func TestEnvoyBootstrap(t *testing.T) {
	mounts := []mount{{path: "/tmp/config", host: "/bench/fs/config"}}
	for _, args := range [][]string{
		{"--base-id 1", "-c /tmp/config/envoy-bootstrap.yaml", "--log-level info"},
		{"-c", "/tmp/config/envoy-bootstrap.yaml"},
		{"--config-path=/tmp/config/envoy-bootstrap.yaml"},
	} {
		if got := envoyBootstrap(args, mounts); got != "/bench/fs/config/envoy-bootstrap.yaml" {
			t.Errorf("envoyBootstrap(%q) = %q", args, got)
		}
	}
}
