// Package assets embeds what neuroscale ships inside its binary: the pinned
// component catalog (catalog.yaml) and, under components/<name>/, each
// component's overlays and its own manifests (Kyverno policies, the
// Backstage model-endpoint template, the demo InferenceService).
package assets

import "embed"

// FS holds catalog.yaml and components/.
//
//go:embed catalog.yaml all:components
var FS embed.FS
