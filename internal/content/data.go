package content

import (
	"strings"

	"github.com/neuroscale-dev/neuroscale/internal/config"
)

// Data is what the embedded manifest templates are executed with.
type Data struct {
	// Profile is the active profile's name.
	Profile string
	// Domain is Knative's and KServe's ingress domain.
	Domain string
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

// TemplateData returns the data for r's manifest templates.
func TemplateData(r *config.Resolved) any {
	return dataFor(r)
}

func dataFor(r *config.Resolved) *Data {
	d := &Data{Profile: r.Profile, Domain: IngressDomain}
	if g := r.GitOps; g != nil {
		d.GitOps = &GitOpsData{Repo: g.Repo, Branch: g.Branch, Path: g.Path}
		d.GitOps.Owner, d.GitOps.Name = splitRepo(g.Repo)
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
