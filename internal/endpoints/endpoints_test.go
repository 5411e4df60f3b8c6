package endpoints

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/neuroscale-dev/neuroscale/internal/config"
)

func resolve(t *testing.T, profile string) *config.Resolved {
	t.Helper()
	r, err := config.Resolve(&config.Platform{APIVersion: config.APIVersion, Kind: config.KindPlatform, Profile: profile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestList(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		profile, backstageSignIn string
	}{
		{"dev", "Enter as guest"},
		{"prod", "GitHub (OAuth app AUTH_GITHUB_CLIENT_ID)"},
	} {
		eps := List(resolve(t, tc.profile))
		var names []string
		for _, e := range eps {
			names = append(names, e.Name)
			if e.Purpose == "" || e.SignIn == "" || e.URL == "" {
				t.Errorf("%s/%s: incomplete %+v", tc.profile, e.Name, e)
			}
			if e.Password != "" {
				t.Errorf("%s/%s: a password without asking", tc.profile, e.Name)
			}
		}
		if strings.Join(names, ",") != "backstage,argocd,demo" {
			t.Fatalf("%s: endpoints %v", tc.profile, names)
		}
		if eps[0].SignIn != tc.backstageSignIn {
			t.Errorf("%s: backstage sign-in %q, want %q", tc.profile, eps[0].SignIn, tc.backstageSignIn)
		}
		if !strings.Contains(eps[1].SignIn, "--show-password") {
			t.Errorf("%s: argocd sign-in %q does not say how to get the password", tc.profile, eps[1].SignIn)
		}
	}
}

// apiServer answers GET of the ArgoCD admin Secret like an API server:
// the Secret when password is set, 404 otherwise.
func apiServer(t *testing.T, password string) *rest.Config {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path != "/api/v1/namespaces/argocd/secrets/argocd-initial-admin-secret" || password == "" {
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode(metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
				Status: metav1.StatusFailure, Reason: metav1.StatusReasonNotFound, Code: http.StatusNotFound})
			return
		}
		_ = json.NewEncoder(w).Encode(corev1.Secret{TypeMeta: metav1.TypeMeta{Kind: "Secret", APIVersion: "v1"},
			Data: map[string][]byte{"password": []byte(password)}})
	}))
	t.Cleanup(srv.Close)
	return &rest.Config{Host: srv.URL}
}

func TestAddPassword(t *testing.T) {
	t.Parallel()
	eps := List(resolve(t, "dev"))
	if err := AddPassword(context.Background(), apiServer(t, "s3cr3t-Pa55"), eps); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := WriteText(&out, eps); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "argocd admin password: s3cr3t-Pa55\n") {
		t.Errorf("password not shown on request:\n%s", out.String())
	}

	gone := List(resolve(t, "dev"))
	if err := AddPassword(context.Background(), apiServer(t, ""), gone); err != nil {
		t.Fatal(err)
	}
	if gone[1].Password != "" || !strings.Contains(gone[1].SignIn, "the password you set") {
		t.Errorf("without the Secret: %+v", gone[1])
	}
}
