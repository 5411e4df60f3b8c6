// Package preflight checks, before anything is created or changed, that
// this machine can run the platform as configured, and reports every
// problem at once with what to do about each: the Docker engine (k3d only),
// its memory and CPUs against the profile, free disk for images, the
// cluster's reachability and Kubernetes version (existing only), and every
// host port the config uses (free, and not wanted twice).
//
// The seed platform's port-forward script bound 8081/8082, the ports its
// k3d load balancer already held; that class of mistake is caught here,
// naming both uses, before a cluster exists.
package preflight

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/neuroscale-dev/neuroscale/internal/cluster/k3d"
	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/diag"
)

// clusterTimeout bounds the existing cluster's answer.
const clusterTimeout = 10 * time.Second

// Options tune a run.
type Options struct {
	// Log receives what was skipped and why; nil discards it.
	Log *slog.Logger
}

// Problem is one thing that would make `up` fail: a diag.Diagnostic of
// severity error whose ID is the check (docker, memory, cpus, disk,
// cluster, version or port).
type Problem = diag.Diagnostic

// nextStep is what to do after preflight failed.
const nextStep = "nothing was changed; fix the problems above (each says how) and run again"

// Run checks the machine against r and returns a *diag.Failed listing
// every problem, or nil. It changes nothing.
func Run(ctx context.Context, r *config.Resolved, opts Options) error {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var probs []Problem
	var published map[int]string
	localPorts := true
	if r.Cluster.Provider == config.ProviderK3d {
		eng, err := k3d.DockerEngine(ctx)
		if err != nil {
			p := Problem{ID: "docker", Severity: diag.Error, Message: err.Error(), Fix: diag.Hint(err)}
			probs = append(probs, p)
		} else {
			probs = append(probs, resources(eng, r)...)
			probs = append(probs, disk(eng, r, log)...)
			if published, err = k3d.PublishedPorts(ctx, r.Cluster.Name); err != nil {
				// Not knowing only costs precision: a port the cluster
				// itself holds would be reported as taken.
				log.Warn("could not read the existing cluster's ports", "err", err)
			}
			localPorts = publishesLocally(eng)
			if !localPorts {
				log.Info("Docker runs on another machine; its published ports are not checked here", "host", eng.Host)
			}
		}
	}
	if r.Cluster.Provider == config.ProviderExisting {
		probs = append(probs, checkExisting(ctx, r)...)
	}
	uses := Uses(r)
	probs = append(probs, collisions(uses)...)
	probs = append(probs, ports(uses, published, localPorts)...)
	if len(probs) > 0 {
		return &diag.Failed{Check: "preflight", Diagnostics: probs, Next: nextStep}
	}
	return nil
}

// publishesLocally reports whether ports the engine publishes appear on
// this machine: a local socket (Linux, Docker Desktop, colima forward them
// here), or a TCP endpoint on the loopback address.
func publishesLocally(e *k3d.Engine) bool {
	h := e.Host
	switch {
	case strings.HasPrefix(h, "unix://"), strings.HasPrefix(h, "npipe://"):
		return true
	case strings.HasPrefix(h, "tcp://127."), strings.HasPrefix(h, "tcp://localhost"), strings.HasPrefix(h, "tcp://[::1]"):
		return true
	}
	return false
}
