// Package secrets gets the platform's secret values (Backstage's
// GITHUB_TOKEN, the GitHub OAuth client in prod, and any the user declares)
// from their sources, checks them before anything changes, and puts them
// into the cluster so the workloads that read them restart with them.
//
// The seed platform lost hours to a Secret holding the placeholder
// <YOUR_TOKEN_HERE> and to a pod that kept the old value after the Secret
// changed. So: every value is validated (placeholders, quotes, shapes of
// GitHub tokens and OAuth credentials) with errors that name the secret and
// its source but never the value; the Secret is server-side applied; every
// consumer carries a checksum annotation of what it reads, so a changed
// value rolls exactly those pods; and VerifyInContainer checks, by length
// only, that a running container sees the value.
//
// A value lives in a Value, whose every printing, logging and marshalling
// path redacts it; only Reveal, used to build the Secret object, returns it.
package secrets
