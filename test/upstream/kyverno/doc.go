// Package kyverno holds no code: the module pins Kyverno's admission
// controller (cmd/kyverno) for scripts/testcluster's --real=controllers.
package kyverno
