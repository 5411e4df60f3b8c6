// Package dockertest serves, from memory, the slice of the Docker Engine
// API that the k3d provider and preflight use (info, listing and
// inspecting containers, volumes and networks, removing them), so their
// tests run on machines without a Docker engine, through the real Docker
// client that k3d builds from DOCKER_HOST.
package dockertest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/docker/docker/api/types/system"
)

// apiVersion is what the daemon announces; the client negotiates down to it.
const apiVersion = "1.47"

// Container is a container the daemon reports.
type Container struct {
	Name   string
	Image  string
	Labels map[string]string
	Cmd    []string
	// Ports maps a container port ("80/tcp") to host bindings.
	Ports    map[string][]Binding
	Running  bool
	Networks []string
}

// Binding is a published port.
type Binding struct {
	HostIP   string `json:"HostIp"`
	HostPort string `json:"HostPort"`
}

// Volume is a named volume.
type Volume struct {
	Name   string
	Labels map[string]string
}

// Network is a Docker network.
type Network struct {
	Name   string
	Labels map[string]string
}

// Daemon is a Docker engine in memory. Set its fields before Start; after
// Start use its methods, which lock.
type Daemon struct {
	Info       system.Info
	Containers []Container
	Volumes    []Volume
	Networks   []Network

	mu       sync.Mutex
	requests []string
	srv      *httptest.Server
}

// Start serves d on a loopback port until the test ends and points the
// Docker client at it: DOCKER_HOST, plus an empty DOCKER_CONFIG so that no
// context from the developer's machine wins over DOCKER_HOST.
func Start(t testing.TB, d *Daemon) *Daemon {
	t.Helper()
	d.srv = httptest.NewServer(http.HandlerFunc(d.serve))
	t.Cleanup(d.srv.Close)
	t.Setenv("DOCKER_HOST", "tcp://"+d.srv.Listener.Addr().String())
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	t.Setenv("DOCKER_CONTEXT", "")
	t.Setenv("DOCKER_TLS_VERIFY", "")
	return d
}

// Requests lists the changing calls the daemon received, as
// "METHOD /path" without the API version, in order.
func (d *Daemon) Requests() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.requests...)
}

var versionPrefix = regexp.MustCompile(`^/v[0-9.]+`)

func (d *Daemon) serve(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	path := versionPrefix.ReplaceAllString(r.URL.Path, "")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		d.requests = append(d.requests, r.Method+" "+path)
	}
	w.Header().Set("Api-Version", apiVersion)
	w.Header().Set("Ostype", "linux")
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case path == "/_ping":
		_, _ = w.Write([]byte("OK"))
	case path == "/info":
		writeJSON(w, d.Info)
	case path == "/containers/json":
		d.listContainers(w, r.URL.Query())
	case len(parts) == 3 && parts[0] == "containers" && parts[2] == "json":
		d.inspectContainer(w, parts[1])
	case len(parts) == 2 && parts[0] == "containers" && r.Method == http.MethodDelete:
		if d.removeContainer(parts[1]) {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		notFound(w, "container", parts[1])
	case path == "/volumes":
		d.listVolumes(w, r.URL.Query())
	case len(parts) == 2 && parts[0] == "volumes":
		d.volume(w, r.Method, parts[1])
	case path == "/networks":
		d.listNetworks(w, r.URL.Query())
	case len(parts) == 2 && parts[0] == "networks":
		d.network(w, r.Method, parts[1])
	default:
		// Anything else (image pulls, container creation, archives) is
		// outside what the tests exercise: say so loudly in the error.
		w.WriteHeader(http.StatusNotImplemented)
		writeJSON(w, map[string]string{"message": "dockertest does not serve " + r.Method + " " + path})
	}
}

func (d *Daemon) listContainers(w http.ResponseWriter, q url.Values) {
	f := parseFilters(q)
	out := []map[string]any{}
	for _, c := range d.Containers {
		if !f.labels(c.Labels) || !f.name(c.Name) {
			continue
		}
		state := "exited"
		if c.Running {
			state = "running"
		}
		out = append(out, map[string]any{"Id": id(c.Name), "Names": []string{"/" + c.Name}, "Image": c.Image, "Labels": c.Labels, "State": state})
	}
	writeJSON(w, out)
}

func (d *Daemon) find(ref string) *Container {
	for i := range d.Containers {
		if d.Containers[i].Name == ref || id(d.Containers[i].Name) == ref {
			return &d.Containers[i]
		}
	}
	return nil
}

func (d *Daemon) inspectContainer(w http.ResponseWriter, ref string) {
	c := d.find(ref)
	if c == nil {
		notFound(w, "container", ref)
		return
	}
	status := "exited"
	if c.Running {
		status = "running"
	}
	nets := map[string]any{}
	for i, n := range c.Networks {
		ip := ""
		if c.Running {
			ip = "172.28.0." + string(rune('2'+i))
		}
		nets[n] = map[string]any{"IPAddress": ip}
	}
	writeJSON(w, map[string]any{
		"Id":      id(c.Name),
		"Name":    "/" + c.Name,
		"Image":   "sha256:" + id(c.Image),
		"Created": "2026-01-01T00:00:00Z",
		"State":   map[string]any{"Running": c.Running, "Status": status},
		"Config":  map[string]any{"Image": c.Image, "Labels": c.Labels, "Cmd": c.Cmd},
		"HostConfig": map[string]any{
			"PortBindings":  c.Ports,
			"RestartPolicy": map[string]any{"Name": "unless-stopped"},
		},
		"NetworkSettings": map[string]any{"Networks": nets},
	})
}

func (d *Daemon) removeContainer(ref string) bool {
	for i := range d.Containers {
		if d.Containers[i].Name == ref || id(d.Containers[i].Name) == ref {
			d.Containers = append(d.Containers[:i], d.Containers[i+1:]...)
			return true
		}
	}
	return false
}

func (d *Daemon) listVolumes(w http.ResponseWriter, q url.Values) {
	f := parseFilters(q)
	out := []map[string]any{}
	for _, v := range d.Volumes {
		if f.labels(v.Labels) && f.name(v.Name) {
			out = append(out, map[string]any{"Name": v.Name, "Labels": v.Labels, "Driver": "local"})
		}
	}
	writeJSON(w, map[string]any{"Volumes": out})
}

func (d *Daemon) volume(w http.ResponseWriter, method, name string) {
	for i, v := range d.Volumes {
		if v.Name != name {
			continue
		}
		if method == http.MethodDelete {
			d.Volumes = append(d.Volumes[:i], d.Volumes[i+1:]...)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeJSON(w, map[string]any{"Name": v.Name, "Labels": v.Labels, "Driver": "local"})
		return
	}
	notFound(w, "volume", name)
}

func (d *Daemon) listNetworks(w http.ResponseWriter, q url.Values) {
	f := parseFilters(q)
	out := []map[string]any{}
	for _, n := range d.Networks {
		if f.labels(n.Labels) && f.name(n.Name) {
			out = append(out, map[string]any{"Id": id(n.Name), "Name": n.Name, "Labels": n.Labels})
		}
	}
	writeJSON(w, out)
}

func (d *Daemon) network(w http.ResponseWriter, method, ref string) {
	for i, n := range d.Networks {
		if n.Name != ref && id(n.Name) != ref {
			continue
		}
		if method == http.MethodDelete {
			d.Networks = append(d.Networks[:i], d.Networks[i+1:]...)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeJSON(w, map[string]any{"Id": id(n.Name), "Name": n.Name, "Labels": n.Labels, "IPAM": map[string]any{"Config": []any{}}})
		return
	}
	notFound(w, "network", ref)
}

// id derives a stable, hex-looking ID from a name.
func id(name string) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	for i := 0; i < 64; i++ {
		c := byte(i)
		if len(name) > 0 {
			c += name[i%len(name)]
		}
		b.WriteByte(hex[int(c)%16])
	}
	return b.String()
}

// filters is Docker's list filter: {"label":{"k=v":true},"name":{"re":true}}.
type filters map[string]map[string]bool

func parseFilters(q url.Values) filters {
	f := filters{}
	if s := q.Get("filters"); s != "" {
		_ = json.Unmarshal([]byte(s), &f)
	}
	return f
}

func (f filters) labels(have map[string]string) bool {
	for want := range f["label"] {
		k, v, hasValue := strings.Cut(want, "=")
		got, ok := have[k]
		if !ok || hasValue && got != v {
			return false
		}
	}
	return true
}

// name matches like the engine: each filter is a regular expression
// tried against the name with and without its leading slash.
func (f filters) name(name string) bool {
	for pat := range f["name"] {
		re, err := regexp.Compile(pat)
		if err != nil || !(re.MatchString(name) || re.MatchString("/"+name)) {
			return false
		}
	}
	return true
}

func notFound(w http.ResponseWriter, kind, ref string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotFound)
	writeJSON(w, map[string]string{"message": "No such " + kind + ": " + ref})
}

func writeJSON(w http.ResponseWriter, v any) {
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	_ = json.NewEncoder(w).Encode(v)
}
