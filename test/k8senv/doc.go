// Package k8senv is the root of the module that builds the integration-test
// Kubernetes control plane (see scripts/testcluster and the README (section The test cluster)).
// The package itself holds no code: the programs live under cmd/, and
// tools.go pins the upstream main packages that the build script compiles.
package k8senv
