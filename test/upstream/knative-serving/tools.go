//go:build tools

// Package knativeserving is never compiled; it lists the main packages that
// scripts/testcluster builds so that `go mod tidy` keeps their modules.
package knativeserving

import (
	_ "knative.dev/serving/cmd/activator"
	_ "knative.dev/serving/cmd/autoscaler"
	_ "knative.dev/serving/cmd/controller"
	_ "knative.dev/serving/cmd/queue"
	_ "knative.dev/serving/cmd/webhook"
)
