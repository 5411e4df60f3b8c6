// Package kserve holds no code of its own: the module pins KServe v0.20.0
// and ./manager is its controller manager (upstream's cmd/manager, with
// the bench's two flags) for scripts/testcluster's --real=controllers.
package kserve
