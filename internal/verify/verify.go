// Package verify checks, end to end, that the installed platform does what
// it is for: the model-endpoint Template is in Backstage's catalog, the
// scaffolder can list its actions, the catalog rejected nothing, ArgoCD's
// applications are synced and healthy (with a GitOps repository), and the
// demo model answers a prediction. Each check passes or fails with the
// evidence (status code, body excerpt, log line), because the seed
// platform's failures were all silent in the UI.
package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/neuroscale-dev/neuroscale/internal/content"
)

// Status is a check's outcome.
type Status string

// Outcomes. Unknown means the check could not look (no logs to read, no
// forward); it is shown but is not a failure.
const (
	Pass    Status = "pass"
	Fail    Status = "fail"
	Unknown Status = "unknown"
	Skip    Status = "skip"
)

// Check IDs.
const (
	CheckCatalogTemplate   = "catalog-template"
	CheckScaffolderActions = "scaffolder-actions"
	CheckGuestSignIn       = "guest-sign-in"
	CheckCatalogLog        = "catalog-log"
	CheckArgoCDApps        = "argocd-apps"
	CheckPredict           = "predict"
)

// Result is one check's outcome with its evidence.
type Result struct {
	ID     string `json:"id"`
	Status Status `json:"status"`
	// Evidence is what was seen: request and status code, body excerpt,
	// log lines, object conditions.
	Evidence string `json:"evidence"`
	// Fix says what to do when the check failed.
	Fix string `json:"fix,omitempty"`
	// HTTPStatus is the status code of the check's request, when it made
	// one and got an answer.
	HTTPStatus int `json:"httpStatus,omitempty"`
	// Lines are the log lines a log check matched.
	Lines []string `json:"lines,omitempty"`
}

// Report is every check's result, in the order they ran.
type Report struct {
	Results []Result `json:"results"`
}

// Failed reports whether any check failed.
func (r Report) Failed() bool {
	for _, res := range r.Results {
		if res.Status == Fail {
			return true
		}
	}
	return false
}

// WriteText prints one line per check, with the fix under a failure.
func (r Report) WriteText(w io.Writer) {
	width := 0
	for _, res := range r.Results {
		width = max(width, len(res.ID))
	}
	for _, res := range r.Results {
		fmt.Fprintf(w, "%-7s  %-*s  %s\n", strings.ToUpper(string(res.Status)), width, res.ID, res.Evidence)
		for _, l := range res.Lines {
			fmt.Fprintf(w, "%-7s  %-*s    log: %s\n", "", width, "", l)
		}
		if res.Status == Fail && res.Fix != "" {
			fmt.Fprintf(w, "%-7s  %-*s    fix: %s\n", "", width, "", res.Fix)
		}
	}
}

// Names are the objects the checks look at; DefaultNames gives the
// platform's.
type Names struct {
	BackstageNamespace  string
	BackstageDeployment string
	Template            string
	Model               string
	ArgoCDNamespace     string
	ApplicationSet      string
}

// DefaultNames returns the names neuroscale installs the platform with.
func DefaultNames() Names {
	return Names{
		BackstageNamespace:  content.BackstageNamespace,
		BackstageDeployment: content.BackstageRelease,
		Template:            content.TemplateName,
		Model:               content.DemoName,
		ArgoCDNamespace:     "argocd",
		ApplicationSet:      content.ApplicationSetName,
	}
}

// Options say where the platform is.
type Options struct {
	// BackstageURL and PredictorURL are base URLs of the forwards (say
	// http://127.0.0.1:7010); BackstageErr and PredictorErr say why one is
	// empty.
	BackstageURL string
	BackstageErr error
	PredictorURL string
	PredictorErr error
	Kube         kubernetes.Interface
	Dynamic      dynamic.Interface
	// GitOps is true when a GitOps repository is configured, so ArgoCD's
	// applications are expected.
	GitOps bool
	// SignIn is how people sign in to Backstage (SignInGuest,
	// SignInGitHub; config's backstage.auth); guest sign-in is checked.
	SignIn string
	Names  Names
	// HTTP is the client for the checks' requests; a 10 s timeout client
	// when nil.
	HTTP *http.Client
}

// Run runs every check and returns their results.
func Run(ctx context.Context, o Options) Report {
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Names == (Names{}) {
		o.Names = DefaultNames()
	}
	return Report{Results: []Result{
		CatalogTemplate(ctx, o),
		ScaffolderActions(ctx, o),
		GuestSignIn(ctx, o),
		ScaffolderDryRun(ctx, o),
		CatalogLog(ctx, o),
		ArgoCDApps(ctx, o),
		Predict(ctx, o),
	}}
}

// Request and body for the prediction, the seed platform's contract.
const (
	PredictBody     = `{"instances":[[6.8,2.8,4.8,1.4],[6.0,3.4,4.5,1.6]]}`
	catalogPath     = "/api/catalog/entities?filter=kind=template"
	scaffolderPath  = "/api/scaffolder/v2/actions"
	bodyExcerptSize = 200
)

// wantPredictions is what the demo model answers for PredictBody.
var wantPredictions = []float64{1, 1}

// CatalogTemplate checks that the Template is in Backstage's catalog.
func CatalogTemplate(ctx context.Context, o Options) Result {
	res := Result{ID: CheckCatalogTemplate}
	if o.BackstageURL == "" {
		return noForward(res, "backstage", o.BackstageErr)
	}
	code, body, err := do(ctx, o.HTTP, http.MethodGet, o.BackstageURL+catalogPath, "")
	res.HTTPStatus = code
	if err != nil {
		return failed(res, fmt.Sprintf("GET %s: %v", catalogPath, err), "check the backstage forward (neuroscale forward) and the Backstage pod")
	}
	if code != http.StatusOK {
		return failed(res, fmt.Sprintf("GET %s → %d: %s", catalogPath, code, excerpt(body)), "see Backstage's logs: kubectl -n backstage logs deploy/neuroscale-backstage")
	}
	var entities []struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(body, &entities); err != nil {
		return failed(res, fmt.Sprintf("GET %s → 200 but not a list of entities (%v): %s", catalogPath, err, excerpt(body)), "check that the forward reaches Backstage's backend")
	}
	var names []string
	for _, e := range entities {
		names = append(names, e.Metadata.Name)
		if e.Metadata.Name == o.Names.Template {
			res.Status = Pass
			res.Evidence = fmt.Sprintf("GET %s → 200: Template %s among %d template(s)", catalogPath, o.Names.Template, len(entities))
			return res
		}
	}
	return failed(res, fmt.Sprintf("GET %s → 200: Template %s missing (templates: [%s])", catalogPath, o.Names.Template, strings.Join(names, ", ")),
		"the catalog rejected or never read the Template: look for NotAllowedError in Backstage's logs (neuroscale doctor); its location needs rules: [{allow: [Template]}]")
}

// ScaffolderActions checks that GET /api/scaffolder/v2/actions answers 200;
// a 401 is what leaves the template's form blank.
func ScaffolderActions(ctx context.Context, o Options) Result {
	res := Result{ID: CheckScaffolderActions}
	if o.BackstageURL == "" {
		return noForward(res, "backstage", o.BackstageErr)
	}
	code, body, err := do(ctx, o.HTTP, http.MethodGet, o.BackstageURL+scaffolderPath, "")
	res.HTTPStatus = code
	switch {
	case err != nil:
		return failed(res, fmt.Sprintf("GET %s: %v", scaffolderPath, err), "check the backstage forward (neuroscale forward) and the Backstage pod")
	case code == http.StatusOK:
		res.Status = Pass
		res.Evidence = fmt.Sprintf("GET %s → 200", scaffolderPath)
		return res
	case code == http.StatusUnauthorized:
		return failed(res, fmt.Sprintf("GET %s → 401: %s", scaffolderPath, excerpt(body)),
			"Backstage's default auth policy rejects the scaffolder's own calls: with guest sign-in neuroscale's app-config sets backend.auth.dangerouslyDisableDefaultAuthPolicy; run neuroscale up --reapply to restore it (with GitHub sign-in, sign in first)")
	}
	return failed(res, fmt.Sprintf("GET %s → %d: %s", scaffolderPath, code, excerpt(body)), "see Backstage's logs: kubectl -n backstage logs deploy/neuroscale-backstage")
}

// ArgoCDApps checks, when a GitOps repository is configured, that the
// ApplicationSet exists and every Application is Synced and Healthy.
func ArgoCDApps(ctx context.Context, o Options) Result {
	res := Result{ID: CheckArgoCDApps}
	if !o.GitOps {
		res.Status, res.Evidence = Skip, "no GitOps repository configured (gitops: in neuroscale.yaml)"
		return res
	}
	apps, err := ApplicationStates(ctx, o.Dynamic, o.Names.ArgoCDNamespace)
	if err != nil {
		return failed(res, err.Error(), "check that ArgoCD is installed: kubectl -n argocd get applications")
	}
	if err := applicationSetExists(ctx, o.Dynamic, o.Names.ArgoCDNamespace, o.Names.ApplicationSet); err != nil {
		return failed(res, err.Error(), "neuroscale up creates it when gitops: is configured")
	}
	var bad, good []string
	for _, a := range apps {
		if a.Sync == "Synced" && a.Health == "Healthy" {
			good = append(good, a.Name)
			continue
		}
		bad = append(bad, a.String())
	}
	if len(bad) > 0 {
		return failed(res, fmt.Sprintf("%d of %d Applications not Synced/Healthy: %s", len(bad), len(apps), strings.Join(bad, "; ")),
			"kubectl -n argocd describe application NAME shows the sync error; a fix applied by hand is reverted by ArgoCD, commit it to the repository")
	}
	res.Status = Pass
	if len(apps) == 0 {
		res.Evidence = fmt.Sprintf("ApplicationSet %s present, no Applications yet (none merged)", o.Names.ApplicationSet)
	} else {
		res.Evidence = fmt.Sprintf("%d Applications Synced/Healthy: %s", len(good), strings.Join(good, ", "))
	}
	return res
}

// Predict POSTs PredictBody to the demo model and expects [1,1].
func Predict(ctx context.Context, o Options) Result {
	res := Result{ID: CheckPredict}
	if o.PredictorURL == "" {
		return noForward(res, "demo", o.PredictorErr)
	}
	path := "/v1/models/" + o.Names.Model + ":predict"
	code, body, err := do(ctx, o.HTTP, http.MethodPost, o.PredictorURL+path, PredictBody)
	res.HTTPStatus = code
	if err != nil {
		return failed(res, fmt.Sprintf("POST %s: %v", path, err), "check the demo forward and the InferenceService: kubectl -n default describe inferenceservice "+o.Names.Model)
	}
	if code != http.StatusOK {
		return failed(res, fmt.Sprintf("POST %s → %d: %s", path, code, excerpt(body)), "kubectl -n default describe inferenceservice "+o.Names.Model+" shows why the model does not serve")
	}
	var got struct {
		Predictions []float64 `json:"predictions"`
	}
	if err := json.Unmarshal(body, &got); err != nil || !equal(got.Predictions, wantPredictions) {
		return failed(res, fmt.Sprintf("POST %s → 200: %s, want {\"predictions\":[1,1]}", path, excerpt(body)), "the model answered differently: check its storageUri and runtime")
	}
	res.Status = Pass
	res.Evidence = fmt.Sprintf("POST %s → 200: %s", path, excerpt(body))
	return res
}

func equal(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func noForward(res Result, name string, err error) Result {
	ev := "no " + name + " forward"
	if err != nil {
		ev += ": " + err.Error()
	}
	return failed(res, ev, "run neuroscale forward, or check the Service behind it with neuroscale doctor")
}

func failed(res Result, evidence, fix string) Result {
	res.Status, res.Evidence, res.Fix = Fail, evidence, fix
	return res
}

// do sends one request and returns the status and up to 1 MiB of body.
func do(ctx context.Context, c *http.Client, method, url, body string) (int, []byte, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	return send(c, req)
}

// send sends req and returns the status and up to 1 MiB of body.
func send(c *http.Client, req *http.Request) (int, []byte, error) {
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, b, fmt.Errorf("read body: %w", err)
	}
	return resp.StatusCode, b, nil
}

// excerpt is the start of a body on one line, for evidence.
func excerpt(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if s == "" {
		return "(empty body)"
	}
	if len(s) > bodyExcerptSize {
		s = s[:bodyExcerptSize] + "…"
	}
	return s
}
