//go:build tools

// Package kserve is never compiled; it lists upstream's command so that
// `go mod tidy` keeps every module its copy in ./manager needs.
package kserve

import _ "github.com/kserve/kserve/cmd/manager"
