//go:build tools

// Package kserve is never compiled; it lists the main package that
// scripts/testcluster builds so that `go mod tidy` keeps its modules.
package kserve

import _ "github.com/kserve/kserve/cmd/manager"
