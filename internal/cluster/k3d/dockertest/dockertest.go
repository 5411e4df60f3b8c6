// Package dockertest serves, from memory, the slice of the Docker Engine
// API that the k3d provider and preflight use (info, listing and
// inspecting containers, volumes, networks and images, removing them,
// pulling images, starting and stopping containers, (re)connecting
// networks, docker cp and execs fed from stdin), so their
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
	// Env is the container's environment, KEY=value.
	Env []string
	// Files are the container's files by absolute path, read and written
	// through the archive endpoints (docker cp).
	Files map[string][]byte

	// endpoints maps a network name to the ID of the network the
	// container was attached to, as Docker records it; a network removed
	// and recreated under the same name has another ID.
	endpoints map[string]string
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
	// ID is derived from Name unless set; a network created through the
	// API gets a fresh one, as Docker does.
	ID string
}

// Image is an image the daemon holds or can pull.
type Image struct {
	// Ref is the reference as pulled, e.g. docker.io/rancher/k3s:v1.
	Ref string
	// Layers are the layer sizes in bytes a pull reports.
	Layers []int64
}

// Daemon is a Docker engine in memory. Set its fields before Start; after
// Start use its methods, which lock.
type Daemon struct {
	Info       system.Info
	Containers []Container
	Volumes    []Volume
	Networks   []Network
	// Images are present; Registry holds what a pull can fetch, and
	// PullErrors makes pulling a reference fail with the message.
	Images     []Image
	Registry   []Image
	PullErrors map[string]string
	// PullBreaksAfter makes a pull of the reference lose its connection
	// after that many layers, as on a conference network; Docker keeps
	// the layers it finished, and the next pull reports them present.
	PullBreaksAfter map[string]int

	mu       sync.Mutex
	requests []string
	srv      *httptest.Server
	nextID   int

	execs      map[string]*execState
	execResult ExecResult
	layers     map[string]bool // layers pulled, by reference and index
}

// Start serves d on a loopback port until the test ends and points the
// Docker client at it: DOCKER_HOST, plus an empty DOCKER_CONFIG so that no
// context from the developer's machine wins over DOCKER_HOST.
func Start(t testing.TB, d *Daemon) *Daemon {
	t.Helper()
	for i := range d.Networks {
		if d.Networks[i].ID == "" {
			d.Networks[i].ID = id(d.Networks[i].Name)
		}
	}
	for i := range d.Containers {
		c := &d.Containers[i]
		c.endpoints = map[string]string{}
		for _, n := range c.Networks {
			if nw := d.findNetwork(n); nw != nil {
				c.endpoints[n] = nw.ID
			}
		}
	}
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
	path := versionPrefix.ReplaceAllString(r.URL.Path, "")
	w.Header().Set("Api-Version", apiVersion)
	w.Header().Set("Ostype", "linux")
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) == 3 && parts[0] == "exec" && parts[2] == "start" {
		// Reads the exec's stdin without the lock: k3d feeds several
		// nodes' execs from one stream at once.
		d.record(r.Method + " " + path)
		d.startExec(w, r, parts[1])
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		d.requests = append(d.requests, r.Method+" "+path)
	}
	switch {
	case path == "/images/json":
		d.listImages(w)
	case path == "/images/create" && r.Method == http.MethodPost:
		d.pull(w, r.URL.Query())
	case strings.HasPrefix(path, "/images/") && strings.HasSuffix(path, "/json"):
		d.inspectImage(w, strings.TrimSuffix(strings.TrimPrefix(path, "/images/"), "/json"))
	case len(parts) == 3 && parts[0] == "containers" && parts[2] == "archive":
		d.archive(w, r, parts[1])
	case len(parts) == 3 && parts[0] == "containers" && parts[2] == "exec":
		d.createExec(w, r, parts[1])
	case len(parts) == 3 && parts[0] == "exec" && parts[2] == "json":
		d.inspectExec(w, parts[1])
	case len(parts) == 3 && parts[0] == "containers" && r.Method == http.MethodPost && (parts[2] == "start" || parts[2] == "stop" || parts[2] == "restart"):
		d.lifecycle(w, parts[1], parts[2])
	case path == "/containers/create" && r.Method == http.MethodPost:
		d.createContainer(w, r)
	case path == "/volumes/create" && r.Method == http.MethodPost:
		d.createVolume(w, r)
	case path == "/networks/create" && r.Method == http.MethodPost:
		d.createNetwork(w, r)
	case len(parts) == 3 && parts[0] == "networks" && (parts[2] == "connect" || parts[2] == "disconnect"):
		d.connect(w, r, parts[1], parts[2] == "connect")
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
	i := 0
	for _, n := range c.Networks {
		netID, ok := c.endpoints[n]
		if !ok {
			continue
		}
		ip := ""
		if c.Running {
			ip = "172.28.0." + string(rune('2'+i))
		}
		i++
		nets[n] = map[string]any{"IPAddress": ip, "NetworkID": netID}
	}
	writeJSON(w, map[string]any{
		"Id":      id(c.Name),
		"Name":    "/" + c.Name,
		"Image":   "sha256:" + id(c.Image),
		"Created": "2026-01-01T00:00:00Z",
		"State":   map[string]any{"Running": c.Running, "Status": status},
		"Config":  map[string]any{"Image": c.Image, "Labels": c.Labels, "Cmd": c.Cmd, "Env": c.Env},
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
			out = append(out, map[string]any{"Id": n.ID, "Name": n.Name, "Labels": n.Labels, "IPAM": ipam})
		}
	}
	writeJSON(w, out)
}

func (d *Daemon) network(w http.ResponseWriter, method, ref string) {
	for i, n := range d.Networks {
		if n.Name != ref && n.ID != ref {
			continue
		}
		if method == http.MethodDelete {
			d.Networks = append(d.Networks[:i], d.Networks[i+1:]...)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeJSON(w, map[string]any{"Id": n.ID, "Name": n.Name, "Labels": n.Labels, "IPAM": ipam})
		return
	}
	notFound(w, "network", ref)
}

// ipam is every network's address plan; k3d reads the subnet of a network
// it creates.
var ipam = map[string]any{"Driver": "default", "Config": []map[string]string{{"Subnet": "172.28.0.0/16", "Gateway": "172.28.0.1"}}}

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
