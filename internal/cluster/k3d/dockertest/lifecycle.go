package dockertest

import (
	"archive/tar"
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	pathpkg "path"
	"slices"
	"strings"
)

// This file serves what changes state: image pulls, starting and stopping
// containers, networks created and (dis)connected, files copied in and out,
// and execs fed from stdin.

// Exec is a command run in a container through the exec endpoints.
type Exec struct {
	Container string
	Cmd       []string
	// Stdin is what the command read: the exec reads stdin as a tar stream
	// (as `ctr image import -` does) up to its end-of-archive marker.
	Stdin []byte
}

// ExecResult decides how an exec ends; nil runs every exec successfully.
// It is called from the exec's own request, without the daemon's lock,
// so execs may call it at the same time.
type ExecResult func(e Exec) (exitCode int, output string)

// SetExecResult installs f; use it after Start.
func (d *Daemon) SetExecResult(f ExecResult) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.execResult = f
}

// Execs lists the execs that ran to completion, in order.
func (d *Daemon) Execs() []Exec {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Exec
	for _, e := range d.execs {
		if e.done {
			out = append(out, e.Exec)
		}
	}
	return out
}

// Container returns a copy of the named container, or false.
func (d *Daemon) Container(name string) (Container, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.find(name)
	if c == nil {
		return Container{}, false
	}
	cp := *c
	cp.Networks = slices.Clone(c.Networks)
	return cp, true
}

// RemoveNetwork removes a network as `docker network rm` does, leaving
// the containers attached to it pointing at an ID that no longer exists.
func (d *Daemon) RemoveNetwork(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.Networks = slices.DeleteFunc(d.Networks, func(n Network) bool { return n.Name == name })
}

// HasImage reports whether the daemon holds ref.
func (d *Daemon) HasImage(ref string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.findImage(d.Images, ref) != nil
}

type execState struct {
	Exec
	attachStdin bool
	done        bool
	exit        int
	output      string
}

func (d *Daemon) record(req string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.requests = append(d.requests, req)
}

func (d *Daemon) findNetwork(ref string) *Network {
	for i := range d.Networks {
		if d.Networks[i].Name == ref || d.Networks[i].ID == ref {
			return &d.Networks[i]
		}
	}
	return nil
}

// normRef drops what Docker fills into a reference by default.
func normRef(ref string) string {
	ref = strings.TrimPrefix(ref, "docker.io/")
	ref = strings.TrimPrefix(ref, "library/")
	if !strings.Contains(pathpkg.Base(ref), ":") {
		ref += ":latest"
	}
	return ref
}

func (d *Daemon) findImage(in []Image, ref string) *Image {
	for i := range in {
		if normRef(in[i].Ref) == normRef(ref) {
			return &in[i]
		}
	}
	return nil
}

func (d *Daemon) listImages(w http.ResponseWriter) {
	out := []map[string]any{}
	for _, im := range d.Images {
		out = append(out, map[string]any{"Id": "sha256:" + id(im.Ref), "RepoTags": []string{im.Ref}})
	}
	writeJSON(w, out)
}

func (d *Daemon) inspectImage(w http.ResponseWriter, ref string) {
	im := d.findImage(d.Images, ref)
	if im == nil {
		notFound(w, "image", ref)
		return
	}
	writeJSON(w, map[string]any{"Id": "sha256:" + id(im.Ref), "RepoTags": []string{im.Ref}})
}

// pull streams Docker's pull progress: per layer, Downloading twice and
// Download complete, then Pull complete; a layer the daemon already has
// from an earlier, interrupted pull is reported as Already exists.
func (d *Daemon) pull(w http.ResponseWriter, q url.Values) {
	ref := q.Get("fromImage")
	if tag := q.Get("tag"); tag != "" {
		ref += ":" + tag
	}
	if msg, ok := d.PullErrors[normRef(ref)]; ok {
		w.WriteHeader(http.StatusOK)
		writeJSON(w, map[string]any{"status": "Pulling from " + ref})
		writeJSON(w, map[string]any{"error": msg, "errorDetail": map[string]any{"message": msg}})
		return
	}
	im := d.findImage(d.Registry, ref)
	if im == nil {
		notFound(w, "image", ref+" in the registry")
		return
	}
	breaks, breaking := d.PullBreaksAfter[normRef(ref)]
	if d.layers == nil {
		d.layers = map[string]bool{}
	}
	for i, size := range im.Layers {
		layer := fmt.Sprintf("layer%d", i)
		key := normRef(ref) + "#" + layer
		if d.layers[key] {
			writeJSON(w, map[string]any{"status": "Already exists", "id": layer})
			continue
		}
		if breaking && i >= breaks {
			delete(d.PullBreaksAfter, normRef(ref)) // the network comes back
			msg := "read tcp 192.168.1.20:51234->104.16.1.1:443: read: connection reset by peer"
			writeJSON(w, map[string]any{"error": msg, "errorDetail": map[string]any{"message": msg}})
			return
		}
		d.layers[key] = true
		writeJSON(w, map[string]any{"status": "Pulling fs layer", "id": layer})
		for _, cur := range []int64{size / 2, size} {
			writeJSON(w, map[string]any{"status": "Downloading", "id": layer, "progressDetail": map[string]int64{"current": cur, "total": size}})
		}
		writeJSON(w, map[string]any{"status": "Download complete", "id": layer})
		writeJSON(w, map[string]any{"status": "Pull complete", "id": layer})
	}
	writeJSON(w, map[string]any{"status": "Status: Downloaded newer image for " + ref})
	d.Images = append(d.Images, *im)
}

func (d *Daemon) lifecycle(w http.ResponseWriter, ref, action string) {
	c := d.find(ref)
	if c == nil {
		notFound(w, "container", ref)
		return
	}
	if action != "stop" {
		// Docker attaches a starting container to each network by the ID
		// it recorded; a network removed since fails the start.
		for _, n := range c.Networks {
			netID := c.endpoints[n]
			found := false
			for _, nw := range d.Networks {
				found = found || nw.ID == netID
			}
			if !found {
				w.WriteHeader(http.StatusNotFound)
				writeJSON(w, map[string]string{"message": "network " + netID + " not found"})
				return
			}
		}
	}
	c.Running = action != "stop"
	w.WriteHeader(http.StatusNoContent)
}

func (d *Daemon) createNetwork(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name   string
		Labels map[string]string
	}
	if !decode(w, r, &req) {
		return
	}
	if d.findNetwork(req.Name) != nil {
		w.WriteHeader(http.StatusConflict)
		writeJSON(w, map[string]string{"message": "network with name " + req.Name + " already exists"})
		return
	}
	d.nextID++
	n := Network{Name: req.Name, Labels: req.Labels, ID: id(fmt.Sprintf("%s#%d", req.Name, d.nextID))}
	d.Networks = append(d.Networks, n)
	w.WriteHeader(http.StatusCreated)
	writeJSON(w, map[string]string{"Id": n.ID})
}

// connect attaches a container to a network or detaches it. Like Docker,
// a stopped container (or force) is detached by the network's name even
// when the network it was attached to no longer exists.
func (d *Daemon) connect(w http.ResponseWriter, r *http.Request, ref string, attach bool) {
	var req struct {
		Container string
		Force     bool
	}
	if !decode(w, r, &req) {
		return
	}
	c := d.find(req.Container)
	if c == nil {
		notFound(w, "container", req.Container)
		return
	}
	n := d.findNetwork(ref)
	name := ref
	if n != nil {
		name = n.Name
	}
	if attach {
		if n == nil {
			notFound(w, "network", ref)
			return
		}
		if _, ok := c.endpoints[name]; ok {
			w.WriteHeader(http.StatusForbidden)
			writeJSON(w, map[string]string{"message": "endpoint with name " + c.Name + " already exists in network " + name})
			return
		}
		if c.endpoints == nil {
			c.endpoints = map[string]string{}
		}
		c.endpoints[name] = n.ID
		if !slices.Contains(c.Networks, name) {
			c.Networks = append(c.Networks, name)
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	if n == nil && c.Running && !req.Force {
		notFound(w, "network", ref)
		return
	}
	if _, ok := c.endpoints[name]; !ok {
		w.WriteHeader(http.StatusInternalServerError)
		writeJSON(w, map[string]string{"message": "container " + c.Name + " is not connected to the network " + name})
		return
	}
	delete(c.endpoints, name)
	c.Networks = slices.DeleteFunc(c.Networks, func(s string) bool { return s == name })
	w.WriteHeader(http.StatusOK)
}

// archive serves docker cp: GET and HEAD read a file, PUT extracts a tar
// into a directory.
func (d *Daemon) archive(w http.ResponseWriter, r *http.Request, ref string) {
	c := d.find(ref)
	if c == nil {
		notFound(w, "container", ref)
		return
	}
	p := r.URL.Query().Get("path")
	if r.Method == http.MethodPut {
		tr := tar.NewReader(r.Body)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				w.WriteHeader(http.StatusBadRequest)
				writeJSON(w, map[string]string{"message": err.Error()})
				return
			}
			b, _ := io.ReadAll(tr)
			dest := h.Name
			if !strings.HasPrefix(dest, "/") {
				dest = pathpkg.Join(p, dest)
			}
			if c.Files == nil {
				c.Files = map[string][]byte{}
			}
			c.Files[dest] = b
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	b, ok := c.Files[p]
	if !ok {
		notFound(w, "file", p)
		return
	}
	stat, _ := json.Marshal(map[string]any{"name": pathpkg.Base(p), "size": len(b), "mode": 0o600})
	w.Header().Set("X-Docker-Container-Path-Stat", base64.StdEncoding.EncodeToString(stat))
	w.Header().Set("Content-Type", "application/x-tar")
	if r.Method == http.MethodHead {
		return
	}
	tw := tar.NewWriter(w)
	_ = tw.WriteHeader(&tar.Header{Name: pathpkg.Base(p), Mode: 0o600, Size: int64(len(b))})
	_, _ = tw.Write(b)
	_ = tw.Close()
}

func (d *Daemon) createExec(w http.ResponseWriter, r *http.Request, ref string) {
	c := d.find(ref)
	if c == nil {
		notFound(w, "container", ref)
		return
	}
	var req struct {
		Cmd         []string
		AttachStdin bool
	}
	if !decode(w, r, &req) {
		return
	}
	d.nextID++
	execID := id(fmt.Sprintf("exec#%d", d.nextID))
	if d.execs == nil {
		d.execs = map[string]*execState{}
	}
	d.execs[execID] = &execState{Exec: Exec{Container: c.Name, Cmd: req.Cmd}, attachStdin: req.AttachStdin}
	w.WriteHeader(http.StatusCreated)
	writeJSON(w, map[string]string{"Id": execID})
}

// startExec takes over the connection as Docker does (101 Upgraded), reads
// stdin up to the end of its tar archive, runs ExecResult and writes its
// output as one stdout frame.
func (d *Daemon) startExec(w http.ResponseWriter, r *http.Request, execID string) {
	d.mu.Lock()
	e, ok := d.execs[execID]
	d.mu.Unlock()
	if !ok {
		notFound(w, "exec instance", execID)
		return
	}
	// The start options come first, as the request's body; what follows
	// on the connection is stdin.
	_, _ = io.Copy(io.Discard, r.Body)
	hj, ok := w.(http.Hijacker)
	if !ok {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	_, _ = rw.WriteString("HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
	_ = rw.Flush()
	var stdin []byte
	if e.attachStdin {
		stdin = readTarStream(rw.Reader)
	}
	d.mu.Lock()
	e.Stdin = stdin
	result, ex := d.execResult, e.Exec
	d.mu.Unlock()
	// ExecResult runs without the lock, so execs run side by side as on
	// Docker and a test can hold one back to see how many are in flight.
	exit, out := 0, ""
	if result != nil {
		exit, out = result(ex)
	}
	d.mu.Lock()
	e.exit, e.output, e.done = exit, out, true
	d.mu.Unlock()
	if out != "" {
		hdr := []byte{1, 0, 0, 0, 0, 0, 0, 0}
		n := len(out)
		hdr[4], hdr[5], hdr[6], hdr[7] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
		_, _ = conn.Write(append(hdr, out...))
	}
}

// readTarStream reads one tar archive, through its end marker, and returns
// its bytes; like a tar consumer it stops there without waiting for EOF.
func readTarStream(r *bufio.Reader) []byte {
	var buf bytes.Buffer
	tr := tar.NewReader(io.TeeReader(r, &buf))
	for {
		if _, err := tr.Next(); err != nil {
			break
		}
		_, _ = io.Copy(io.Discard, tr)
	}
	return buf.Bytes()
}

func (d *Daemon) inspectExec(w http.ResponseWriter, execID string) {
	e, ok := d.execs[execID]
	if !ok {
		notFound(w, "exec instance", execID)
		return
	}
	writeJSON(w, map[string]any{"ID": execID, "Running": !e.done, "ExitCode": e.exit})
}

// createContainer serves docker create: an image the daemon lacks is "No
// such image", which makes k3d pull it first, as the engine does.
func (d *Daemon) createContainer(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	var req struct {
		Image      string
		Labels     map[string]string
		Env        []string
		Cmd        []string
		HostConfig struct {
			PortBindings map[string][]Binding
		}
		NetworkingConfig struct {
			EndpointsConfig map[string]any
		}
	}
	if !decode(w, r, &req) {
		return
	}
	if d.find(name) != nil {
		w.WriteHeader(http.StatusConflict)
		writeJSON(w, map[string]string{"message": "Conflict. The container name \"/" + name + "\" is already in use"})
		return
	}
	if d.findImage(d.Images, req.Image) == nil {
		notFound(w, "image", req.Image)
		return
	}
	c := Container{Name: name, Image: req.Image, Labels: req.Labels, Env: req.Env, Cmd: req.Cmd, Ports: req.HostConfig.PortBindings, endpoints: map[string]string{}}
	for n := range req.NetworkingConfig.EndpointsConfig {
		nw := d.findNetwork(n)
		if nw == nil {
			notFound(w, "network", n)
			return
		}
		c.Networks = append(c.Networks, nw.Name)
		c.endpoints[nw.Name] = nw.ID
	}
	slices.Sort(c.Networks)
	d.Containers = append(d.Containers, c)
	w.WriteHeader(http.StatusCreated)
	writeJSON(w, map[string]any{"Id": id(name), "Warnings": []string{}})
}

// createVolume serves docker volume create, which returns an existing
// volume of the same name unchanged.
func (d *Daemon) createVolume(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name   string
		Labels map[string]string
	}
	if !decode(w, r, &req) {
		return
	}
	v := Volume{Name: req.Name, Labels: req.Labels}
	if i := slices.IndexFunc(d.Volumes, func(v Volume) bool { return v.Name == req.Name }); i >= 0 {
		v = d.Volumes[i]
	} else {
		d.Volumes = append(d.Volumes, v)
	}
	w.WriteHeader(http.StatusCreated)
	writeJSON(w, map[string]any{"Name": v.Name, "Labels": v.Labels, "Driver": "local"})
}

// decode reads the request's JSON body into v, answering 400 when it
// cannot.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		writeJSON(w, map[string]string{"message": err.Error()})
		return false
	}
	return true
}
