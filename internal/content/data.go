package content

import (
	"encoding/json"
	"strings"

	"github.com/neuroscale-dev/neuroscale/internal/config"
)

// Data is what the embedded manifest templates are executed with. Its
// methods exist because the templates themselves contain other tools'
// {{ }} expressions (Backstage's ${{ }}, ArgoCD's {{ }}), which Go's
// text/template would otherwise try to execute.
type Data struct {
	// Profile is the active profile's name.
	Profile string
	// Domain is Knative's and KServe's ingress domain.
	Domain string
	// AppsPath is the folder of the GitOps repository that holds one folder
	// per model endpoint.
	AppsPath string
	// GitOps is where the Template publishes pull requests and what
	// ArgoCD deploys from; nil when no gitops block is configured.
	GitOps *GitOpsData
}

// GitOpsData is the configured GitOps repository, split for the places
// that need its parts.
type GitOpsData struct {
	// Repo is https://github.com/OWNER/NAME.
	Repo   string
	Owner  string
	Name   string
	Branch string
	// Path holds one folder per model endpoint.
	Path string
}

// Quote returns s as a double-quoted YAML scalar, so values from the
// config file cannot change the structure of the document around them.
func (Data) Quote(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	// JSON is YAML; HTML escaping would only make "&" in a repoUrl
	// unreadable as \u0026.
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

// Scaffolder returns the Backstage scaffolder expression ${{ expr }}.
func (Data) Scaffolder(expr string) string {
	return "${{ " + expr + " }}"
}

// Argo returns the ArgoCD ApplicationSet Go-template expression {{expr}}.
func (Data) Argo(expr string) string {
	return "{{" + expr + "}}"
}

// TemplateData returns the data for r's manifest templates (a *Data).
func TemplateData(r *config.Resolved) any {
	return dataFor(r)
}

func dataFor(r *config.Resolved) *Data {
	d := &Data{Profile: r.Profile, Domain: IngressDomain, AppsPath: config.DefaultAppsPath}
	if g := r.GitOps; g != nil {
		d.GitOps = &GitOpsData{Repo: g.Repo, Branch: g.Branch, Path: g.Path}
		d.GitOps.Owner, d.GitOps.Name = splitRepo(g.Repo)
		if g.Path != "" {
			d.AppsPath = strings.Trim(g.Path, "/")
		}
	}
	return d
}

// splitRepo returns OWNER and NAME of https://github.com/OWNER/NAME.
func splitRepo(repo string) (owner, name string) {
	rest := strings.TrimSuffix(strings.TrimPrefix(repo, "https://github.com/"), "/")
	rest = strings.TrimSuffix(rest, ".git")
	owner, name, _ = strings.Cut(rest, "/")
	return owner, name
}
