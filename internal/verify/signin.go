package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// guestRefreshPath is what Backstage's sign-in page calls when one picks
// "Enter as guest": the guest provider issues a Backstage token.
const guestRefreshPath = "/api/auth/guest/refresh"

// Sign-in methods of Options.SignIn (config's backstage.auth).
const (
	SignInGuest  = "guest"
	SignInGitHub = "github"
)

// GuestSignIn checks, where the platform signs in as guest, that
// Backstage's guest provider issues an identity: without it the sign-in
// page offers "Enter as guest" and refuses it. The image runs with
// NODE_ENV=production, where the provider refuses unless
// auth.providers.guest.dangerouslyAllowOutsideDevelopment is set. The
// token it answers is never shown.
func GuestSignIn(ctx context.Context, o Options) Result {
	res := Result{ID: CheckGuestSignIn}
	if o.SignIn != SignInGuest {
		res.Status = Skip
		res.Evidence = "sign-in is not guest"
		if o.SignIn != "" {
			res.Evidence = "sign-in is " + o.SignIn + ": it needs a browser"
		}
		return res
	}
	if o.BackstageURL == "" {
		return noForward(res, "backstage", o.BackstageErr)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.BackstageURL+guestRefreshPath, nil)
	if err != nil {
		return failed(res, err.Error(), "")
	}
	// What Backstage's frontend sends with an auth refresh.
	req.Header.Set("X-Requested-With", "XMLHttpRequest")
	req.Header.Set("Accept", "application/json")
	code, body, err := send(o.HTTP, req)
	res.HTTPStatus = code
	if err != nil {
		return failed(res, fmt.Sprintf("GET %s: %v", guestRefreshPath, err), "check the backstage forward (neuroscale forward) and the Backstage pod")
	}
	if code != http.StatusOK {
		return failed(res, fmt.Sprintf("GET %s → %d: %s", guestRefreshPath, code, excerpt(body)),
			"Backstage refuses guest sign-in: neuroscale's dev app-config sets auth.providers.guest.dangerouslyAllowOutsideDevelopment (the image runs with NODE_ENV=production); run neuroscale up --reapply to restore it")
	}
	var answer struct {
		BackstageIdentity struct {
			Token    string `json:"token"`
			Identity struct {
				UserEntityRef string `json:"userEntityRef"`
			} `json:"identity"`
		} `json:"backstageIdentity"`
	}
	if err := json.Unmarshal(body, &answer); err != nil || answer.BackstageIdentity.Token == "" {
		return failed(res, fmt.Sprintf("GET %s → 200 but no Backstage identity in the answer", guestRefreshPath),
			"check that the forward reaches Backstage's backend")
	}
	res.Status = Pass
	res.Evidence = fmt.Sprintf("GET %s → 200: signed in as %s", guestRefreshPath, answer.BackstageIdentity.Identity.UserEntityRef)
	return res
}
