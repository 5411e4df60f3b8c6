package engine

import (
	"context"
	"errors"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
)

// retryBudget bounds the retries of transient API failures, for every
// write the engine makes (server-side apply, Helm install, upgrade,
// rollback and uninstall): a webhook registered a moment ago whose pods
// are not serving yet, a CRD whose kind discovery has not caught up with,
// an API server restarting (a 13 s restart used to fail Helm steps while
// apply steps rode it out).
const retryBudget = 2 * time.Minute

// retryMaxPause is the longest pause between two attempts.
const retryMaxPause = 5 * time.Second

// retryTransient calls op until it succeeds, fails with an error that time
// will not fix (returned as it is), ctx ends (ctx.Err()), or retryBudget
// runs out (the last transient error is returned). It paces the attempts
// with the engine's one wait, poll. Each failed attempt is logged at debug
// level only: the library's error lines are not the user's business
// unless the retries give up.
func (e *Engine) retryTransient(ctx context.Context, what string, op func(ctx context.Context) error) error {
	var last error
	attempts := 0
	err := e.poll(ctx, retryBudget, retryMaxPause, func(ctx context.Context) (bool, error) {
		attempts++
		err := op(ctx)
		if err == nil {
			if attempts > 1 {
				e.log.Debug(what+" succeeded after retries", "attempts", attempts)
			}
			return true, nil
		}
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		if !transient(err) {
			return false, err
		}
		last = err
		e.log.Debug(what+" failed, retrying", "attempt", attempts, "err", err)
		return false, nil
	})
	if errors.Is(err, errBudget) {
		return last
	}
	return err
}

// transient reports failures that resolve by themselves shortly: webhooks
// whose pods are still starting, kinds discovery has not seen yet, an
// overloaded or restarting API server (refused or dropped connections,
// etcd elections), write conflicts.
func transient(err error) bool {
	if meta.IsNoMatchError(err) || apierrors.IsServiceUnavailable(err) || apierrors.IsServerTimeout(err) ||
		apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err) || apierrors.IsConflict(err) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{
		"failed calling webhook", "no endpoints available", "connection refused", "status unknown for quota",
		"no matches for kind", "could not find the requested resource", "the server is currently unable",
		"etcdserver: request timed out", "etcdserver: leader changed", "context deadline exceeded",
		"connection reset by peer", "http2: client connection lost", "unexpected EOF", "TLS handshake timeout",
		"i/o timeout", "Kubernetes cluster unreachable", "the object has been modified",
	} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	var se apierrors.APIStatus
	if errors.As(err, &se) && se.Status().Code >= 500 {
		return true
	}
	return false
}
