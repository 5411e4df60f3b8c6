// Package knativeserving holds no code: the module pins Knative Serving's
// controller, webhook, autoscaler, activator and queue-proxy
// (knative.dev/serving v0.50.0 = Knative v1.23.0, the catalog's pin) for
// scripts/testcluster's --real=controllers.
package knativeserving
