// Package endpoints says, for each URL the platform's forwards open, what
// it is for and how to sign in: the first question of someone who just
// ran `neuroscale up`. The ArgoCD admin password is read from its Secret
// only when asked, never printed unasked.
package endpoints

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/content"
	"github.com/neuroscale-dev/neuroscale/internal/verify"
)

// Endpoint is one URL a user opens through `neuroscale forward`.
type Endpoint struct {
	// Name is the forward's name.
	Name string `json:"name"`
	URL  string `json:"url"`
	// Service is namespace/name of the Service behind it.
	Service string `json:"service"`
	// Purpose says what it is for; SignIn how to get in.
	Purpose string `json:"purpose"`
	SignIn  string `json:"signIn"`
	// Password is set only for ArgoCD, and only when asked for.
	Password string `json:"password,omitempty"`
}

// passwordHint is how to get ArgoCD's password without printing it.
const passwordHint = "status --show-password"

// List describes every forward of r, in the configuration's order. A
// forward to a Service neuroscale does not know is listed with its
// Service as purpose.
func List(r *config.Resolved) []Endpoint {
	out := make([]Endpoint, 0, len(r.Forwards))
	for _, f := range r.Forwards {
		e := Endpoint{Name: f.Name, URL: f.URL(), Service: f.Namespace + "/" + f.Service,
			Purpose: "port-forward to Service " + f.Namespace + "/" + f.Service, SignIn: "-"}
		switch {
		case f.Namespace == content.BackstageNamespace && f.Service == content.BackstageRelease:
			e.Purpose = "developer portal, templates"
			e.SignIn = "Enter as guest"
			if r.Backstage.Auth == "github" {
				e.SignIn = "GitHub (OAuth app AUTH_GITHUB_CLIENT_ID)"
			}
		case f.Namespace == content.ArgoCDNamespace && f.Service == content.ArgoCDServer:
			e.Purpose = "GitOps sync (ArgoCD)"
			e.SignIn = "admin / " + passwordHint
		case verify.PredictorForward(r) != nil && f.Name == verify.PredictorForward(r).Name:
			e.Purpose = "demo model, POST " + content.DemoName + ":predict"
			e.SignIn = "none"
		}
		out = append(out, e)
	}
	return out
}

// AddPassword reads ArgoCD's admin password from its Secret into the
// ArgoCD endpoint of eps. A missing Secret (deleted after the password
// was changed, as ArgoCD advises) is said in SignIn, not as an error.
func AddPassword(ctx context.Context, cfg *rest.Config, eps []Endpoint) error {
	i := -1
	for j, e := range eps {
		if e.Service == content.ArgoCDNamespace+"/"+content.ArgoCDServer {
			i = j
		}
	}
	if i < 0 {
		return nil
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	s, err := cs.CoreV1().Secrets(content.ArgoCDNamespace).Get(ctx, content.ArgoCDAdminSecret, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		eps[i].SignIn = "admin; the password you set (" + content.ArgoCDAdminSecret + " is gone)"
		return nil
	case err != nil:
		return fmt.Errorf("read ArgoCD's admin password: %w", err)
	}
	eps[i].Password = string(s.Data["password"])
	eps[i].SignIn = "admin; password below"
	return nil
}

// WriteText writes eps as a table: name, URL, purpose, sign-in, and the
// password on its own line when it was asked for.
func WriteText(w io.Writer, eps []Endpoint) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ENDPOINT\tURL\tFOR\tSIGN IN")
	for _, e := range eps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Name, e.URL, e.Purpose, e.SignIn)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, e := range eps {
		if e.Password != "" {
			fmt.Fprintf(w, "%s admin password: %s\n", e.Name, e.Password)
		}
	}
	return nil
}
