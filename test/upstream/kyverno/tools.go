//go:build tools

// Package kyverno is never compiled; it lists the main package that
// scripts/testcluster builds so that `go mod tidy` keeps its modules.
package kyverno

import _ "github.com/kyverno/kyverno/cmd/kyverno"
