//go:build tools

// Package netkourier is never compiled; it lists the main package that
// scripts/testcluster builds so that `go mod tidy` keeps its modules.
package netkourier

import _ "knative.dev/net-kourier/cmd/kourier"
