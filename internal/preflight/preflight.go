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
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/neuroscale-dev/neuroscale/internal/cluster/k3d"
	"github.com/neuroscale-dev/neuroscale/internal/config"
)

// clusterTimeout bounds the existing cluster's answer.
const clusterTimeout = 10 * time.Second

// Options tune a run.
type Options struct {
	// Log receives what was skipped and why; nil discards it.
	Log *slog.Logger
}

// Problem is one thing that would make `up` fail.
type Problem struct {
	// Check is docker, memory, cpus, disk, cluster, version or port.
	Check string
	Msg   string
	// Fix says what to do about it.
	Fix string
}

// String is the problem and its fix on one line.
func (p Problem) String() string {
	if p.Fix == "" {
		return p.Msg
	}
	return p.Msg + ": " + p.Fix
}

// Error is every problem preflight found.
type Error struct {
	Problems []Problem
}

// Error lists every problem, one per line.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "preflight found %d problem", len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteString("s")
	}
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Hint says what to do next.
func (e *Error) Hint() string {
	return "nothing was changed; fix the problems above (each says how) and run again"
}

// Run checks the machine against r and returns an *Error listing every
// problem, or nil. It changes nothing.
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
			p := Problem{Check: "docker", Msg: err.Error()}
			if h, ok := err.(interface{ Hint() string }); ok {
				p.Fix = h.Hint()
			}
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
		return &Error{Problems: probs}
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
