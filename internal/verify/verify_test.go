package verify

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/neuroscale-dev/neuroscale/internal/verify/verifytest"
)

// The seed platform's log line (Failure 1), as Backstage writes it: one
// JSON record per line.
const seedRejection = `{"level":"warn","message":"Failed to process location","location":{"type":"url","target":"https://github.com/sodiq-code/neuroscale-platform/blob/main/backstage/templates/model-endpoint/template.yaml"},"error":"NotAllowedError: Forbidden: entity of kind Template is not allowed from that location","plugin":"catalog","service":"backstage"}`

func TestCatalogRejections(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		log  string
		want []string
	}{
		{"clean log", "{\"level\":\"info\",\"message\":\"Listening on :7007\"}\n", nil},
		{"seed rejection, JSON shortened", "info starting\n" + seedRejection + "\n", []string{"warn Failed to process location: NotAllowedError: Forbidden: entity of kind Template is not allowed from that location (location url:https://github.com/sodiq-code/neuroscale-platform/blob/main/backstage/templates/model-endpoint/template.yaml)"}},
		{"text format, repeated lines once, CRLF", "[backstage] warn Failed to process location NotAllowedError: Forbidden\r\n" +
			"[backstage] warn Failed to process location NotAllowedError: Forbidden\r\n",
			[]string{"[backstage] warn Failed to process location NotAllowedError: Forbidden"}},
		{"other errors are not rejections", "error: InputError: Malformed\nForbidden\n", nil},
		{"long line cut", strings.Repeat("x", 500) + " NotAllowedError", []string{strings.Repeat("x", 400) + "…"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := CatalogRejections(tt.log)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestJudgeCatalogLogs(t *testing.T) {
	t.Parallel()
	started := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	noLogs := errors.New(`the server could not find the requested resource ( pods/log backstage-1)`)
	tests := []struct {
		name      string
		logs      []ContainerLog
		want      Status
		evidence  string
		wantLines int
	}{
		{"no pods", nil, Unknown, "no Backstage pods", 0},
		{"simulated pod without logs is unknown, not a pass", []ContainerLog{{Pod: "backstage-1", Container: "backstage-backend", Err: noLogs}}, Unknown, "no logs available: backstage-1/backstage-backend: the server could not find", 0},
		{"empty log is unknown", []ContainerLog{{Pod: "b-1", Container: "c", Text: "\n"}}, Unknown, "empty log", 0},
		{"clean", []ContainerLog{{Pod: "b-1", Container: "c", Text: "ok\n"}}, Pass, "no NotAllowedError in b-1/c since start", 0},
		{"rejection", []ContainerLog{{Pod: "b-1", Container: "c", Started: started, Text: seedRejection + "\n"}, {Pod: "b-2", Container: "c", Err: noLogs}}, Fail, "since 2026-01-02T03:04:05Z", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := judgeCatalogLogs(Result{ID: CheckCatalogLog}, tt.logs)
			if got.Status != tt.want || !strings.Contains(got.Evidence, tt.evidence) || len(got.Lines) != tt.wantLines {
				t.Errorf("got %s %q lines %q; want %s containing %q with %d lines", got.Status, got.Evidence, got.Lines, tt.want, tt.evidence, tt.wantLines)
			}
			if got.Status == Fail && got.Fix == "" {
				t.Error("a failure without a fix")
			}
		})
	}
}

func TestHTTPChecks(t *testing.T) {
	t.Parallel()
	const tmpl = "kserve-model-endpoint"
	type check func(context.Context, Options) Result
	tests := []struct {
		name      string
		backstage verifytest.BackstageState
		pred      []int
		check     check
		want      Status
		code      int
		evidence  string
	}{
		{"template present", verifytest.BackstageState{Templates: []string{"other", tmpl}}, nil, CatalogTemplate, Pass, 200, "Template kserve-model-endpoint among 2 template(s)"},
		{"template missing", verifytest.BackstageState{Templates: []string{"other"}}, nil, CatalogTemplate, Fail, 200, "Template kserve-model-endpoint missing (templates: [other])"},
		{"catalog error", verifytest.BackstageState{CatalogStatus: 500}, nil, CatalogTemplate, Fail, 500, `→ 500: {"error":{"message":"catalog unavailable"`},
		{"actions 200", verifytest.BackstageState{}, nil, ScaffolderActions, Pass, 200, "GET /api/scaffolder/v2/actions → 200"},
		{"actions 401", verifytest.BackstageState{ActionsStatus: 401}, nil, ScaffolderActions, Fail, 401, `→ 401: {"error":{"message":"Missing credentials","name":"AuthenticationError"}}`},
		{"actions 404", verifytest.BackstageState{ActionsStatus: 404}, nil, ScaffolderActions, Fail, 404, "→ 404"},
		{"guest signs in", verifytest.BackstageState{}, nil, GuestSignIn, Pass, 200, "GET /api/auth/guest/refresh → 200: signed in as user:development/guest"},
		{"guest refused", verifytest.BackstageState{GuestStatus: 403}, nil, GuestSignIn, Fail, 403, "→ 403: {\"error\":{\"message\":\"The guest provider cannot be used outside of a development environment"},
		{"predict [1,1]", verifytest.BackstageState{}, []int{1, 1}, Predict, Pass, 200, `POST /v1/models/demo-iris-2:predict → 200: {"predictions":[1,1]}`},
		{"predict wrong answer", verifytest.BackstageState{}, []int{1, 0}, Predict, Fail, 200, `{"predictions":[1,0]}, want {"predictions":[1,1]}`},
		{"predict model not ready", verifytest.BackstageState{}, nil, Predict, Fail, 503, "→ 503: {\"error\":\"Model with name demo-iris-2 is not ready.\"}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bs := httptest.NewServer(verifytest.NewBackstage(tt.backstage))
			defer bs.Close()
			pr := httptest.NewServer(verifytest.NewPredictor("demo-iris-2", tt.pred))
			defer pr.Close()
			o := Options{BackstageURL: bs.URL, PredictorURL: pr.URL, SignIn: SignInGuest, Names: DefaultNames(), HTTP: bs.Client()}
			got := tt.check(context.Background(), o)
			if strings.Contains(got.Evidence, "stand-in-token") {
				t.Error("the guest token is in the evidence")
			}
			if got.Status != tt.want || got.HTTPStatus != tt.code || !strings.Contains(got.Evidence, tt.evidence) {
				t.Errorf("got %s %d %q; want %s %d containing %q", got.Status, got.HTTPStatus, got.Evidence, tt.want, tt.code, tt.evidence)
			}
			if got.Status == Fail && got.Fix == "" {
				t.Error("a failure without a fix")
			}
		})
	}
}

// TestGuestSignInOnlyForGuest: with GitHub sign-in (prod) nothing is
// asked, since signing in takes a browser.
func TestGuestSignInOnlyForGuest(t *testing.T) {
	t.Parallel()
	for _, signIn := range []string{SignInGitHub, ""} {
		got := GuestSignIn(context.Background(), Options{SignIn: signIn, BackstageURL: "http://127.0.0.1:1", HTTP: http.DefaultClient})
		if got.Status != Skip {
			t.Errorf("sign-in %q: %s %q, want skip", signIn, got.Status, got.Evidence)
		}
	}
}

func TestNoForward(t *testing.T) {
	t.Parallel()
	o := Options{BackstageErr: errors.New("forward backstage is waiting: no ready pod"), Names: DefaultNames(), HTTP: http.DefaultClient}
	for _, c := range []func(context.Context, Options) Result{CatalogTemplate, ScaffolderActions, Predict} {
		got := c(context.Background(), o)
		if got.Status != Fail || !strings.Contains(got.Evidence, "no ") {
			t.Errorf("%s: got %s %q, want a failure naming the missing forward", got.ID, got.Status, got.Evidence)
		}
	}
	if got := CatalogTemplate(context.Background(), o); !strings.Contains(got.Evidence, "no ready pod") {
		t.Errorf("evidence %q does not say why the forward is missing", got.Evidence)
	}
}

func TestReportText(t *testing.T) {
	t.Parallel()
	r := Report{Results: []Result{
		{ID: CheckPredict, Status: Pass, Evidence: "POST → 200"},
		{ID: CheckCatalogLog, Status: Fail, Evidence: "rejected", Lines: []string{"b-1/c: NotAllowedError"}, Fix: "allow Template"},
		{ID: CheckArgoCDApps, Status: Skip, Evidence: "no GitOps repository configured"},
	}}
	var buf bytes.Buffer
	r.WriteText(&buf)
	want := "" +
		"PASS     predict      POST → 200\n" +
		"FAIL     catalog-log  rejected\n" +
		"                        log: b-1/c: NotAllowedError\n" +
		"                        fix: allow Template\n" +
		"SKIP     argocd-apps  no GitOps repository configured\n"
	if buf.String() != want {
		t.Errorf("text:\n%s\nwant:\n%s", buf.String(), want)
	}
	if !r.Failed() {
		t.Error("Failed() = false with a failed check")
	}
}
