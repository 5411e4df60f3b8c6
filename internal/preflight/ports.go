package preflight

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/neuroscale-dev/neuroscale/internal/cluster/k3d"
	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/diag"
	"github.com/neuroscale-dev/neuroscale/internal/forward"
)

// Use is one host port the configuration binds.
type Use struct {
	Port int
	// What names the use for people: "the k3d load balancer (http)".
	What string
	// Kind is k3d.UseHTTP, k3d.UseHTTPS, k3d.UseAPI or "forward".
	Kind string
	// Key is the config key that sets the port, for fixes.
	Key string
}

// Uses lists every host port r binds, in config order: k3d's load
// balancer and API (k3d only; an API port of 0 is picked free at creation)
// and each port-forward's local port.
func Uses(r *config.Resolved) []Use {
	var u []Use
	if r.Cluster.Provider == config.ProviderK3d {
		u = append(u,
			Use{r.Cluster.Ports.HTTP, "the k3d load balancer (http)", k3d.UseHTTP, "cluster.ports.http"},
			Use{r.Cluster.Ports.HTTPS, "the k3d load balancer (https)", k3d.UseHTTPS, "cluster.ports.https"},
		)
		if r.Cluster.Ports.API != 0 {
			u = append(u, Use{r.Cluster.Ports.API, "the Kubernetes API", k3d.UseAPI, "cluster.ports.api"})
		}
	}
	for i, f := range r.Forwards {
		u = append(u, Use{f.LocalPort, fmt.Sprintf("the %s port-forward", f.Name), "forward", fmt.Sprintf("forwards[%d].localPort", i)})
	}
	return u
}

// collisions reports each port wanted by more than one use, naming all.
func collisions(uses []Use) []Problem {
	by := map[int][]Use{}
	var order []int
	for _, u := range uses {
		if u.Port <= 0 {
			continue
		}
		if len(by[u.Port]) == 0 {
			order = append(order, u.Port)
		}
		by[u.Port] = append(by[u.Port], u)
	}
	var probs []Problem
	for _, p := range order {
		us := by[p]
		if len(us) < 2 {
			continue
		}
		whats, keys := make([]string, len(us)), make([]string, len(us))
		for i, u := range us {
			whats[i], keys[i] = u.What, u.Key
		}
		probs = append(probs, Problem{Severity: diag.Error, ID: "port",
			Message: fmt.Sprintf("port %d is wanted by both %s", p, strings.Join(whats, " and ")),
			Fix:     "give each its own port in neuroscale.yaml (" + strings.Join(keys, ", ") + ")",
		})
	}
	return probs
}

// ports checks that each port is free to bind, unless the existing
// cluster publishes it for the same use (a re-run). With localPorts false
// (Docker on another machine) only the port-forwards are checked.
func ports(uses []Use, published map[int]string, localPorts bool) []Problem {
	var probs []Problem
	seen := map[int]bool{}
	for _, u := range uses {
		if u.Port <= 0 || seen[u.Port] {
			continue
		}
		seen[u.Port] = true
		if !localPorts && u.Kind != "forward" {
			continue
		}
		if owner, ok := published[u.Port]; ok {
			if owner == u.Kind {
				continue // the cluster neuroscale made holds it for this very use
			}
			probs = append(probs, Problem{Severity: diag.Error, ID: "port",
				Message: fmt.Sprintf("port %d, wanted by %s, is published by the existing k3d cluster for its %s port", u.Port, u.What, owner),
				Fix:     "change " + u.Key + ", or rebuild the cluster with the new ports: neuroscale up --recreate",
			})
			continue
		}
		held, err := inUse(u.Port)
		if !held {
			if err != nil {
				probs = append(probs, Problem{Severity: diag.Error, ID: "port", Message: fmt.Sprintf("cannot bind port %d for %s: %v", u.Port, u.What, err), Fix: "choose another port (" + u.Key + ")"})
			}
			continue
		}
		// Not knowing the holder only costs detail; the port is busy.
		holder, _ := forward.FindHolder("/proc", u.Port)
		msg := fmt.Sprintf("port %d, wanted by %s, is already in use", u.Port, u.What)
		fix := "stop what holds it, or change " + u.Key
		switch {
		case holder == nil:
		case filepath.Base(holder.Command) == "docker-proxy":
			msg += fmt.Sprintf(" by a Docker container (pid %d, docker-proxy)", holder.PID)
			fix = fmt.Sprintf("find it with `docker ps --filter publish=%d` and stop it, or change %s", u.Port, u.Key)
		default:
			msg += " by " + holder.String()
		}
		probs = append(probs, Problem{Severity: diag.Error, ID: "port", Message: msg, Fix: fix})
	}
	return probs
}

// inUse tries to listen where neuroscale will: every host port is bound on
// 127.0.0.1 (k3d's published ports and the forwards alike). A listener on
// 0.0.0.0 or 127.0.0.1 makes this fail on Linux.
func inUse(port int) (bool, error) {
	l, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err == nil {
		l.Close()
		return false, nil
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		return true, nil
	}
	// Permission denied for a port below 1024, say: not "in use", but
	// just as fatal.
	return false, err
}
