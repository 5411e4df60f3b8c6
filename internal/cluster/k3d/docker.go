package k3d

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/docker/docker/api/types/system"

	"github.com/k3d-io/k3d/v5/pkg/runtimes/docker"
)

// pingTimeout bounds the first call to the Docker engine. A daemon that is
// up answers /info in milliseconds; a socket nobody serves hangs only on
// exotic setups, and a user should not wait on those to learn Docker is off.
const pingTimeout = 10 * time.Second

// Engine is what the Docker engine says about itself.
type Engine struct {
	// Host is the endpoint that answered, e.g. unix:///var/run/docker.sock.
	Host string
	Info system.Info
}

// Local reports whether the engine runs on this machine's kernel, so that
// its host ports and its data directory are this machine's. Docker Desktop
// and colima run the engine in a VM: their ports are forwarded to this
// machine, but their disk is not ours to measure.
func (e *Engine) Local() bool {
	if !strings.HasPrefix(e.Host, "unix://") {
		return false
	}
	return e.Kind() == "engine"
}

// Kind names the kind of engine for hints: "docker-desktop", "colima" or
// "engine" (a plain dockerd).
func (e *Engine) Kind() string {
	osName := strings.ToLower(e.Info.OperatingSystem)
	switch {
	case strings.Contains(osName, "docker desktop"):
		return "docker-desktop"
	case strings.Contains(strings.ToLower(e.Info.Name), "colima") || strings.Contains(e.Host, "colima"):
		return "colima"
	}
	return "engine"
}

// DockerEngine asks the Docker engine that k3d's runtime uses for its
// details. It builds the client exactly as k3d does (the Docker CLI's
// configuration: DOCKER_HOST, DOCKER_CONTEXT, `docker context use`), so
// preflight and cluster creation can never disagree about which daemon
// they talk to. Any failure is a *DockerUnavailableError.
func DockerEngine(ctx context.Context) (*Engine, error) {
	c, err := docker.GetDockerClient()
	if err != nil {
		return nil, &DockerUnavailableError{Err: err}
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	info, err := c.Info(ctx)
	if err != nil {
		return nil, &DockerUnavailableError{Host: c.DaemonHost(), Err: err}
	}
	return &Engine{Host: c.DaemonHost(), Info: info}, nil
}

// DockerUnavailableError says the Docker engine could not be reached.
type DockerUnavailableError struct {
	// Host is the endpoint tried; empty when the client could not be built.
	Host string
	Err  error
}

// Error names the endpoint tried and why it failed.
func (e *DockerUnavailableError) Error() string {
	if e.Host == "" {
		return fmt.Sprintf("Docker is not reachable: %v", e.Err)
	}
	return fmt.Sprintf("Docker is not reachable at %s: %v", e.Host, e.Err)
}

// Unwrap returns the Docker client's error.
func (e *DockerUnavailableError) Unwrap() error { return e.Err }

// Hint says how to get a Docker engine running.
func (e *DockerUnavailableError) Hint() string {
	msg := ""
	if e.Err != nil {
		msg = strings.ToLower(e.Err.Error())
	}
	switch {
	case strings.Contains(msg, "permission denied"):
		return "your user may not use the Docker socket: sudo usermod -aG docker $USER, then log out and in again"
	case strings.HasPrefix(e.Host, "tcp://") || strings.HasPrefix(e.Host, "ssh://"):
		return "DOCKER_HOST points at " + e.Host + ": start the engine there, or unset DOCKER_HOST to use the local one"
	}
	return "Docker is not running: start Docker Desktop, or `colima start --cpu 4 --memory 8`, or `sudo systemctl start docker`; if it runs elsewhere set DOCKER_HOST or `docker context use NAME`"
}
