// Package doctor inspects a running platform and names every known way it
// fails, each with the evidence and the fix: the failures the seed
// platform met one by one (a Template the catalog rejected, a scaffolder
// answering 401, a frontend config without app.title, probes lost to
// mis-nested values, a placeholder token, a pod older than its Secret,
// hand edits, a webhook without endpoints, Traefik in front of Kourier, an
// InferenceService that is not Ready, Knative without Kourier, a dead
// port-forward, a Helm release stuck pending).
//
// A check that cannot look (no logs on a simulated pod, no Backstage to
// ask) adds a note instead of a finding: doctor reports what it saw, never
// what it guessed.
package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/neuroscale-dev/neuroscale/internal/diag"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/content"
	"github.com/neuroscale-dev/neuroscale/internal/secrets"
	"github.com/neuroscale-dev/neuroscale/internal/state"
)

// Finding IDs, one per known failure.
const (
	IDTemplateRejected        = "template-rejected"
	IDScaffolderUnauthorized  = "scaffolder-unauthorized"
	IDGuestSignInRefused      = "guest-sign-in-refused"
	IDAppTitleMissing         = "app-title-missing"
	IDProbesDrift             = "probes-drift"
	IDSecretEmpty             = "secret-empty"
	IDSecretInvalid           = "secret-invalid"
	IDSecretNewerThanPods     = "secret-newer-than-pods"
	IDDrift                   = "drift"
	IDWebhookNoEndpoints      = "webhook-no-endpoints"
	IDTraefikPresent          = "traefik-present"
	IDInferenceServiceNotRdy  = "inferenceservice-not-ready"
	IDKnativeIngressClass     = "knative-ingress-class"
	IDForwardAbsent           = "forward-absent"
	IDForwardDead             = "forward-dead"
	IDHelmReleasePending      = "helm-release-pending"
	defaultPendingAfter       = 5 * time.Minute
	defaultKnativeNamespace   = "knative-serving"
	knativeNetworkConfigMap   = "config-network"
	defaultHTTPTimeout        = 10 * time.Second
	maxEvidenceItems          = 5
	defaultBackstageContainer = "backstage-backend"
)

// Finding is one known failure found on the platform, in the vocabulary
// every check shares (package diag): Object names what is wrong, like
// "deployment backstage/neuroscale-backstage"; Evidence is what was seen
// (a log line, a field and its manager, a status code; secret values
// never appear, only lengths). Run makes every finding an error.
type Finding = diag.Diagnostic

// Report is what doctor found.
type Report struct {
	Findings []Finding `json:"findings"`
	// Notes say which checks could not look, and why.
	Notes []string `json:"-"`
}

// MarshalJSON writes {"findings": [...]}, an empty list when healthy, so
// a script reads the same shape either way (-o json and -o yaml).
func (r Report) MarshalJSON() ([]byte, error) {
	out := struct {
		Findings []Finding `json:"findings"`
	}{Findings: r.Findings}
	if out.Findings == nil {
		out.Findings = []Finding{}
	}
	return json.Marshal(out)
}

// WriteText writes each finding with its evidence and fix, or that there
// is none.
func (r *Report) WriteText(w io.Writer) {
	if len(r.Findings) == 0 {
		fmt.Fprintln(w, "No known failure found.")
		return
	}
	_ = diag.WriteText(w, r.Findings)
	fmt.Fprintf(w, "%d finding(s).\n", len(r.Findings))
}

// Names are the objects doctor looks at; DefaultNames gives the platform's.
type Names struct {
	BackstageNamespace  string
	BackstageDeployment string
	BackstageSecret     string
	KnativeNamespace    string
}

// DefaultNames returns the names neuroscale installs the platform with.
func DefaultNames() Names {
	t := secrets.DefaultTarget()
	return Names{
		BackstageNamespace:  content.BackstageNamespace,
		BackstageDeployment: content.BackstageRelease,
		BackstageSecret:     t.Name,
		KnativeNamespace:    defaultKnativeNamespace,
	}
}

// Options say what to inspect and how.
type Options struct {
	// Config is the platform's resolved configuration: expected probes,
	// secrets and their kinds, forwards.
	Config *config.Resolved
	// REST reaches the cluster; the clients below are built from it when
	// nil.
	REST     *rest.Config
	Kube     kubernetes.Interface
	Dynamic  dynamic.Interface
	Metadata metadata.Interface
	// BackstageURL is a base URL reaching Backstage's backend (a forward);
	// empty skips the HTTP checks with a note naming BackstageErr.
	BackstageURL string
	BackstageErr error
	HTTP         *http.Client
	Names        Names
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// PendingAfter is how long a Helm release may be pending before it
	// counts as stuck (an install in progress is pending too).
	PendingAfter time.Duration
	// OurManagers are the field managers of what neuroscale applies;
	// neuroscale's and Helm's when empty.
	OurManagers []string
	// ProcRoot is where the holder of a forward's port is looked up.
	ProcRoot string
	Log      *slog.Logger
}

// check is one known failure's detector. An error means it could not
// look; it becomes a note.
type check struct {
	name string
	run  func(ctx context.Context, e *env) ([]Finding, error)
}

// checks lists every detector, in the order findings are reported.
func checks() []check {
	return []check{
		{"forwards", checkForwards},
		{"backstage logs", checkTemplateRejected},
		{"scaffolder actions", checkScaffolder},
		{"guest sign-in", checkGuestSignIn},
		{"backstage app-config", checkAppTitle},
		{"backstage probes", checkProbes},
		{"secrets", checkSecrets},
		{"hand edits", checkDrift},
		{"admission webhooks", checkWebhooks},
		{"traefik", checkTraefik},
		{"inference services", checkInferenceServices},
		{"knative ingress class", checkKnativeIngress},
		{"helm releases", checkHelmReleases},
	}
}

// env is what every check gets.
type env struct {
	Options
}

// Run runs every check and returns what they found. It fails only when the
// options are unusable; a check that cannot look adds a note.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := setDefaults(&o); err != nil {
		return nil, err
	}
	e := &env{Options: o}
	rep := &Report{}
	for _, c := range checks() {
		fs, err := c.run(ctx, e)
		if err != nil {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s: not checked: %v", c.name, err))
			o.Log.Debug("doctor check could not look", "check", c.name, "err", err)
		}
		for _, f := range fs {
			if f.Severity == "" {
				f.Severity = diag.Error
			}
			rep.Findings = append(rep.Findings, f)
		}
	}
	return rep, nil
}

func setDefaults(o *Options) error {
	if o.Config == nil {
		return fmt.Errorf("doctor: no configuration")
	}
	var err error
	if o.Kube == nil {
		if o.REST == nil {
			return fmt.Errorf("doctor: no cluster configuration")
		}
		if o.Kube, err = kubernetes.NewForConfig(o.REST); err != nil {
			return fmt.Errorf("doctor: kubernetes client: %w", err)
		}
	}
	if o.Dynamic == nil {
		if o.Dynamic, err = dynamic.NewForConfig(o.REST); err != nil {
			return fmt.Errorf("doctor: dynamic client: %w", err)
		}
	}
	if o.Metadata == nil {
		if o.Metadata, err = metadata.NewForConfig(o.REST); err != nil {
			return fmt.Errorf("doctor: metadata client: %w", err)
		}
	}
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: defaultHTTPTimeout}
	}
	if o.Names == (Names{}) {
		o.Names = DefaultNames()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PendingAfter <= 0 {
		o.PendingAfter = defaultPendingAfter
	}
	if len(o.OurManagers) == 0 {
		o.OurManagers = []string{state.FieldManager, secrets.RolloutFieldManager, "helm"}
	}
	if o.ProcRoot == "" {
		o.ProcRoot = "/proc"
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

// object names an object for a finding: "kind namespace/name".
func object(kind, ns, name string) string {
	if ns == "" {
		return strings.ToLower(kind) + " " + name
	}
	return strings.ToLower(kind) + " " + ns + "/" + name
}

// firstN joins at most maxEvidenceItems items and says how many more.
func firstN(items []string, sep string) string {
	sort.Strings(items)
	if len(items) <= maxEvidenceItems {
		return strings.Join(items, sep)
	}
	return strings.Join(items[:maxEvidenceItems], sep) + fmt.Sprintf("%s… and %d more", sep, len(items)-maxEvidenceItems)
}
