// Package kserve holds no code: the module pins KServe's controller
// manager (cmd/manager) v0.20.0 for scripts/testcluster's
// --real=controllers.
package kserve
