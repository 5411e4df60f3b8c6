package main

import (
	"regexp"
	"testing"
)

func TestExpandVars(t *testing.T) {
	env := map[string]string{"POD_NAMESPACE": "cert-manager", "EMPTY": ""}
	for in, want := range map[string]string{
		"--ns=$(POD_NAMESPACE)":             "--ns=cert-manager",
		"$(POD_NAMESPACE).svc":              "cert-manager.svc",
		"$(UNKNOWN)":                        "$(UNKNOWN)",
		"$$(POD_NAMESPACE)":                 "$(POD_NAMESPACE)",
		"a$(EMPTY)b":                        "ab",
		"no vars":                           "no vars",
		"$(POD_NAMESPACE":                   "$(POD_NAMESPACE",
		"$(POD_NAMESPACE)/$(POD_NAMESPACE)": "cert-manager/cert-manager",
	} {
		if got := expandVars(in, env); got != want {
			t.Errorf("expandVars(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRewritePaths(t *testing.T) {
	mounts := []mount{{path: "/etc/config/sub", host: "/h/sub"}, {path: "/etc/config", host: "/h/cfg"}, {path: "/tls", host: "/h/tls"}}
	for in, want := range map[string]string{
		"/etc/config/app.yaml":          "/h/cfg/app.yaml",
		"/etc/config/sub/x":             "/h/sub/x",
		"--config=/etc/config/app.yaml": "--config=/h/cfg/app.yaml",
		"--certs=/tls/a.crt,/tls/b.crt": "--certs=/h/tls/a.crt,/h/tls/b.crt",
		"/etc/configuration":            "/etc/configuration",
		"--other=/var/run/x":            "--other=/var/run/x",
		"/tls":                          "/h/tls",
		"prefix/tls/x":                  "prefix/tls/x",
	} {
		if got := rewritePaths(in, mounts); got != want {
			t.Errorf("rewritePaths(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestProgramFor(t *testing.T) {
	re := regexp.MustCompile(programImageRegexp())
	for image, want := range map[string]string{
		"reg.kyverno.io/kyverno/kyverno:v1.19.0":                                  "kyverno-admission-controller",
		"kyverno/kyverno@sha256:0123":                                             "kyverno-admission-controller",
		"reg.kyverno.io/kyverno/kyvernopre:v1.19.0":                               "",
		"reg.kyverno.io/kyverno/background-controller:v1.19.0":                    "",
		"quay.io/jetstack/cert-manager-webhook:v1.21.1":                           "cert-manager-webhook",
		"quay.io/jetstack/cert-manager-controller:v1.21.1":                        "cert-manager-controller",
		"quay.io/jetstack/cert-manager-startupapicheck:v1.21.1":                   "",
		"localhost:5000/kyverno/kyverno":                                          "kyverno-admission-controller",
		"gcr.io/knative-releases/knative.dev/serving/cmd/queue@sha256:a3cc":       "knative-queue-proxy",
		"gcr.io/knative-releases/knative.dev/serving/cmd/controller@sha256:ca50":  "knative-controller",
		"gcr.io/knative-releases/knative.dev/net-kourier/cmd/kourier@sha256:eedf": "net-kourier-controller",
		"docker.io/envoyproxy/envoy:v1.37.5":                                      "kourier-gateway",
		"kserve/sklearnserver:v0.20.0":                                            "sklearn-model-server",
		"kserve/storage-initializer:v0.20.0":                                      "",
		"gcr.io/knative-releases/knative.dev/serving/cmd/default-domain@sha256:0": "",
	} {
		p, ok := programFor(image)
		if got := map[bool]string{true: p.name, false: ""}[ok]; got != want {
			t.Errorf("programFor(%q) = %q, want %q", image, got, want)
		}
		// kwok's stage must select exactly the same pods.
		if re.MatchString(image) != (want != "") {
			t.Errorf("stage regexp on %q = %v, want %v", image, re.MatchString(image), want != "")
		}
	}
}

func TestRealComponents(t *testing.T) {
	var r realComponents
	if err := r.Set("controllers,controllers"); err != nil || r.String() != "controllers" {
		t.Fatalf("Set: %v %q", err, r.String())
	}
	if err := r.Set("backstage"); err != nil || r.String() != "backstage,controllers" {
		t.Fatalf("combined: %v %q", err, r.String())
	}
	if err := r.Set("controllers,nonsense"); err == nil {
		t.Fatal("unknown part accepted")
	}
}

func TestBindPodIP(t *testing.T) {
	got := bindPodIP([]string{"--a=:8080", "--a=1.2.3.4:1", "--b=:9"}, "127.1.0.9", "--a")
	want := []string{"--a=127.1.0.9:8080", "--a=1.2.3.4:1", "--b=:9"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("bindPodIP[%d] = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestNotReadyStage(t *testing.T) {
	s, err := notReadyStage()
	if err != nil {
		t.Fatal(err)
	}
	if s.GetName() != "pod-ready-real-program" {
		t.Fatal(s.GetName())
	}
}
