package main

// What a real process started for a simulated pod cannot have here, and how
// it is stood in for. This file is the ONE place where the pod's world is
// mapped onto this machine; everything else a real component gets (its
// command line, config files, environment, Secret values) is read from the
// pod as the API server has it.
//
//   - Filesystem: the pod's volumes (ConfigMaps, Secrets, emptyDirs) are
//     written under a root directory of its workload, DIR/real/<ns>-<deployment>/root, at their
//     mount paths (items honoured), except subPath mounts, which are files
//     of the pod's own (see podFS). Absolute paths the process is given
//     (its arguments, and file locations inside the config files it reads,
//     see mapConfigPaths) are mapped to those places; its working
//     directory is the image's WORKDIR under the pod root, where the
//     image's root package.json is stood in for (layoutImage).
//   - Filesystem, --real=controllers: the same layout under a root per
//     container, DIR/real/<ns>_<pod>_<container>/fs; a container path in
//     an argument or variable is mapped to it by rewritePaths.
//   - Network, --real=controllers: every pod of a real program shares the
//     bench's one pod network namespace (real_netns.go), where the pod's IP
//     is an address; a program that binds every address binds a port that
//     the other pods' programs must then not use (real_programs.go moves
//     such binds to the pod IP). There is no cluster DNS and no Service
//     IP: the programs reach only the API server, and the API server
//     reaches them at their endpoints.
//   - Network, --real=backstage: a pod has its own network namespace and cluster DNS; here
//     every process shares 127.0.0.1. The port the container listens on is
//     replaced by a free loopback port (the pod's port-forward is pointed at
//     it), and a Service name that a real stand-in serves (say the chart's
//     PostgreSQL) is replaced by 127.0.0.1 and the stand-in's real port in
//     the environment (see simNetwork.mapEnv).

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// podRoot returns where pod p's filesystem is laid out. Every pod of one
// workload (a Deployment's ReplicaSets) shares it, so a path inside the
// pod maps to the same path here across rollouts, as it is the same path
// in every real pod: Backstage keys a file catalog location by its path,
// and a path that changed with every pod would make each rollout a new
// location. The last pod to start lays its directory mounts out, which
// its predecessor then sees as a real pod would (see podFS).
func podRoot(dir string, p *corev1.Pod) string {
	return filepath.Join(dir, "real", p.Namespace+"-"+workloadName(p), "root")
}

// workloadName is the pod's Deployment (its ReplicaSet's name without the
// pod-template-hash) or, for other pods, the pod's own name.
func workloadName(p *corev1.Pod) string {
	for _, o := range p.OwnerReferences {
		if o.Kind == "ReplicaSet" {
			if h := p.Labels["pod-template-hash"]; h != "" {
				if name, ok := strings.CutSuffix(o.Name, "-"+h); ok {
					return name
				}
			}
			return o.Name
		}
	}
	return p.Name
}

// podFS is one pod's filesystem as laid out here. Directory mounts (and
// the image's files) live under the root its workload's pods share: the
// kubelet keeps a ConfigMap's directory mount current in every pod that
// mounts it, old and new alike. A subPath mount is the pod's own file
// (under DIR/real/<ns>-<pod>/subpath): the kubelet copies it once, when the
// pod starts, and a running pod never sees the ConfigMap change. Sharing
// it would hand a rollout's new app-config to the old pod's backend, which
// reloads a changed config file; in an earlier version that re-created
// the catalog's Location entity under the new backend, whose first
// processing then failed, and Backstage does not show a Location entity
// that was never processed (a NotAllowedError there stayed invisible).
type podFS struct {
	root  string            // the workload's shared root
	files map[string]string // clean in-pod path of a subPath mount → its file here
}

// newPodFS returns pod p's filesystem under the bench directory dir.
func newPodFS(dir string, p *corev1.Pod) podFS {
	return podFS{root: podRoot(dir, p), files: map[string]string{}}
}

// path maps an absolute path inside the pod to where it is here; a
// relative path is returned as is.
func (fs podFS) path(p string) string {
	if !filepath.IsAbs(p) {
		return p
	}
	p = filepath.Clean(p)
	if f, ok := fs.files[p]; ok {
		return f
	}
	return filepath.Join(fs.root, p)
}

// imageWorkdir is the WORKDIR of the Backstage image, where the chart's
// installDir (/app) points; the pod spec does not say it.
const imageWorkdir = "/app"

// layoutImage stands in for what the Backstage image itself holds under
// its WORKDIR and the backend needs: the monorepo's root package.json,
// from which Backstage finds its root directory at start.
func layoutImage(fs podFS) error {
	return writeFile(fs.path(imageWorkdir+"/package.json"), []byte(`{"name":"root","version":"1.0.0","private":true}`+"\n"))
}

// layoutVolumes writes the volumes container c of pod mounts into fs (and
// records its subPath mounts there), the way the kubelet would:
// ConfigMap and Secret keys become files (only the listed items, at their
// paths, when items are given), a subPath mount is that one file of the
// pod's own, an emptyDir is an empty directory. Other volume types are not
// supported and are reported.
func layoutVolumes(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, c *corev1.Container, fs podFS, podDir string) error {
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Spec.Volumes {
		vols[v.Name] = v
	}
	for _, m := range c.VolumeMounts {
		v, ok := vols[m.Name]
		if !ok {
			return fmt.Errorf("volume mount %s: no volume of that name", m.Name)
		}
		files, err := volumeFiles(ctx, cs, pod, v)
		if err != nil {
			return fmt.Errorf("volume %s: %w", v.Name, err)
		}
		if files == nil { // an emptyDir or a volume nothing reads
			if err := os.MkdirAll(fs.path(m.MountPath), 0o755); err != nil {
				return err
			}
			continue
		}
		if m.SubPath != "" {
			data, ok := files[m.SubPath]
			if !ok {
				return fmt.Errorf("volume %s has no %s for the subPath mount at %s", v.Name, m.SubPath, m.MountPath)
			}
			in := filepath.Clean(m.MountPath)
			fs.files[in] = filepath.Join(podDir, "subpath", in)
			if err := writeFile(fs.path(in), data); err != nil {
				return err
			}
			continue
		}
		for rel, data := range files {
			if err := writeFile(fs.path(filepath.Join(m.MountPath, rel)), data); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeFile replaces path's content at once (a temporary file renamed
// over it), as the kubelet swaps a ConfigMap volume's content: a process
// watching the file never reads it half written.
func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	return nil
}

// volumeFiles returns a volume's files by relative path; nil for an
// emptyDir and for volume types a real process cannot get here (hostPath,
// PVCs: an empty directory stands in). A projected volume's
// ServiceAccount token is a real token of the pod's ServiceAccount, bound
// to the pod (TokenRequest), so the chart's RBAC is what the process gets.
func volumeFiles(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, v corev1.Volume) (map[string][]byte, error) {
	ns := pod.Namespace
	var data map[string][]byte
	var items []corev1.KeyToPath
	var optional *bool
	switch {
	case v.ConfigMap != nil:
		optional, items = v.ConfigMap.Optional, v.ConfigMap.Items
		cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, v.ConfigMap.Name, metav1.GetOptions{})
		if err != nil {
			if optional != nil && *optional {
				return map[string][]byte{}, nil
			}
			return nil, err
		}
		data = map[string][]byte{}
		for k, s := range cm.Data {
			data[k] = []byte(s)
		}
		for k, b := range cm.BinaryData {
			data[k] = b
		}
	case v.Secret != nil:
		optional, items = v.Secret.Optional, v.Secret.Items
		s, err := cs.CoreV1().Secrets(ns).Get(ctx, v.Secret.SecretName, metav1.GetOptions{})
		if err != nil {
			if optional != nil && *optional {
				return map[string][]byte{}, nil
			}
			return nil, err
		}
		data = s.Data
	case v.DownwardAPI != nil:
		return downwardFiles(pod, v.DownwardAPI.Items)
	case v.Projected != nil:
		out := map[string][]byte{}
		for _, src := range v.Projected.Sources {
			var files map[string][]byte
			var err error
			switch {
			case src.ConfigMap != nil:
				files, err = volumeFiles(ctx, cs, pod, corev1.Volume{VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: src.ConfigMap.LocalObjectReference, Items: src.ConfigMap.Items, Optional: src.ConfigMap.Optional}}})
			case src.Secret != nil:
				files, err = volumeFiles(ctx, cs, pod, corev1.Volume{VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
					SecretName: src.Secret.Name, Items: src.Secret.Items, Optional: src.Secret.Optional}}})
			case src.DownwardAPI != nil:
				files, err = downwardFiles(pod, src.DownwardAPI.Items)
			case src.ServiceAccountToken != nil:
				files, err = saTokenFile(ctx, cs, pod, src.ServiceAccountToken)
			}
			if err != nil {
				return nil, err
			}
			for k, b := range files {
				out[k] = b
			}
		}
		return out, nil
	default:
		return nil, nil
	}
	if len(items) == 0 {
		return data, nil
	}
	out := map[string][]byte{}
	for _, it := range items {
		b, ok := data[it.Key]
		if !ok {
			if optional != nil && *optional {
				continue
			}
			return nil, fmt.Errorf("item %s: no such key", it.Key)
		}
		out[it.Path] = b
	}
	return out, nil
}

// saTokenFile is a projected ServiceAccount token: a real one, bound to the pod.
func saTokenFile(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, p *corev1.ServiceAccountTokenProjection) (map[string][]byte, error) {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: p.ExpirationSeconds,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if p.Audience != "" {
		tr.Spec.Audiences = []string{p.Audience}
	}
	tok, err := cs.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, tr, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("projected token of %s/%s: %w", pod.Namespace, sa, err)
	}
	path := p.Path
	if path == "" {
		path = "token"
	}
	return map[string][]byte{path: []byte(tok.Status.Token)}, nil
}

func downwardFiles(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, it := range items {
		if it.FieldRef == nil {
			continue
		}
		v, err := fieldValue(pod, it.FieldRef.FieldPath)
		if err != nil {
			return nil, err
		}
		out[it.Path] = []byte(v)
	}
	return out, nil
}

// fieldValue answers the fieldRef paths the kubelet supports.
func fieldValue(pod *corev1.Pod, path string) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP", "status.podIPs":
		return pod.Status.PodIP, nil
	case "status.hostIP":
		return pod.Status.HostIP, nil
	}
	for _, pre := range []struct {
		prefix string
		m      map[string]string
	}{{"metadata.labels['", pod.Labels}, {"metadata.annotations['", pod.Annotations}} {
		if strings.HasPrefix(path, pre.prefix) && strings.HasSuffix(path, "']") {
			return pre.m[strings.TrimSuffix(strings.TrimPrefix(path, pre.prefix), "']")], nil
		}
	}
	if path == "metadata.labels" || path == "metadata.annotations" {
		m := pod.Labels
		if path == "metadata.annotations" {
			m = pod.Annotations
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for _, k := range keys {
			b.WriteString(k + "=" + strconv.Quote(m[k]) + "\n")
		}
		return b.String(), nil
	}
	return "", fmt.Errorf("pod %s/%s: fieldRef %q is not supported by the bench", pod.Namespace, pod.Name, path)
}

// containerEnv resolves container c's environment as the kubelet would:
// envFrom first, then env (later entries win; $(VAR) refers to earlier
// ones), with values from Secrets and ConfigMaps read from the API and
// fieldRefs from the pod as the API server has it. Secret values stay in
// memory and in the process's environment; they are never logged.
func containerEnv(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, c *corev1.Container) (map[string]string, error) {
	env := map[string]string{}
	ns := pod.Namespace
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, from.ConfigMapRef.Name, metav1.GetOptions{})
			if err != nil {
				if from.ConfigMapRef.Optional != nil && *from.ConfigMapRef.Optional {
					continue
				}
				return nil, fmt.Errorf("envFrom configmap %s/%s: %w", ns, from.ConfigMapRef.Name, err)
			}
			for k, v := range cm.Data {
				env[from.Prefix+k] = v
			}
		case from.SecretRef != nil:
			s, err := cs.CoreV1().Secrets(ns).Get(ctx, from.SecretRef.Name, metav1.GetOptions{})
			if err != nil {
				if from.SecretRef.Optional != nil && *from.SecretRef.Optional {
					continue
				}
				return nil, fmt.Errorf("envFrom secret %s/%s: %w", ns, from.SecretRef.Name, err)
			}
			for k, v := range s.Data {
				env[from.Prefix+k] = string(v)
			}
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = expandVars(e.Value, env)
			continue
		}
		vf := e.ValueFrom
		switch {
		case vf.FieldRef != nil:
			v, err := fieldValue(pod, vf.FieldRef.FieldPath)
			if err != nil {
				return nil, err
			}
			env[e.Name] = v
		case vf.ResourceFieldRef != nil:
			env[e.Name] = resourceValue(c, vf.ResourceFieldRef)
		case vf.ConfigMapKeyRef != nil:
			cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, vf.ConfigMapKeyRef.Name, metav1.GetOptions{})
			if err != nil {
				if vf.ConfigMapKeyRef.Optional != nil && *vf.ConfigMapKeyRef.Optional {
					continue
				}
				return nil, fmt.Errorf("env %s: configmap %s/%s: %w", e.Name, ns, vf.ConfigMapKeyRef.Name, err)
			}
			env[e.Name] = cm.Data[vf.ConfigMapKeyRef.Key]
		case vf.SecretKeyRef != nil:
			s, err := cs.CoreV1().Secrets(ns).Get(ctx, vf.SecretKeyRef.Name, metav1.GetOptions{})
			if err != nil {
				if vf.SecretKeyRef.Optional != nil && *vf.SecretKeyRef.Optional {
					continue
				}
				return nil, fmt.Errorf("env %s: secret %s/%s: %w", e.Name, ns, vf.SecretKeyRef.Name, err)
			}
			v, ok := s.Data[vf.SecretKeyRef.Key]
			if !ok && (vf.SecretKeyRef.Optional == nil || !*vf.SecretKeyRef.Optional) {
				return nil, fmt.Errorf("env %s: secret %s/%s has no key %s", e.Name, ns, vf.SecretKeyRef.Name, vf.SecretKeyRef.Key)
			}
			env[e.Name] = string(v)
		}
	}
	return env, nil
}

// resourceValue gives limits/requests as the kubelet does: bytes for
// memory, whole cores (rounded up) for cpu; an unset limit is the node's
// capacity, which the bench does not model, so it is left empty.
func resourceValue(ctr *corev1.Container, ref *corev1.ResourceFieldSelector) string {
	list := ctr.Resources.Limits
	name := strings.TrimPrefix(ref.Resource, "limits.")
	if strings.HasPrefix(ref.Resource, "requests.") {
		list, name = ctr.Resources.Requests, strings.TrimPrefix(ref.Resource, "requests.")
	}
	q, ok := list[corev1.ResourceName(name)]
	if !ok {
		return ""
	}
	div := int64(1)
	if !ref.Divisor.IsZero() {
		div = ref.Divisor.Value()
	}
	if name == "cpu" {
		milli := q.MilliValue()
		if ref.Divisor.IsZero() {
			return strconv.FormatInt((milli+999)/1000, 10)
		}
		d := ref.Divisor.MilliValue()
		return strconv.FormatInt((milli+d-1)/d, 10)
	}
	return strconv.FormatInt((q.Value()+div-1)/div, 10)
}

// expandVars replaces $(NAME) by env's value, and $$ by $, as the kubelet
// does for env values, command and args; unknown references stay as they
// are.
func expandVars(s string, env map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '$' && i+1 < len(s) {
			switch s[i+1] {
			case '$':
				b.WriteByte('$')
				i++
				continue
			case '(':
				if end := strings.IndexByte(s[i+2:], ')'); end >= 0 {
					name := s[i+2 : i+2+end]
					if v, ok := env[name]; ok {
						b.WriteString(v)
						i += 2 + end
						continue
					}
				}
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mount maps a container's mountPath to where its contents are on this
// machine (where layoutVolumes put them, see podFS).
type mount struct {
	path string // in the container
	host string // on this machine
}

// containerMounts lists container c's mounts as laid out in fs, longest
// path first, so rewritePaths maps the most specific one.
func containerMounts(c *corev1.Container, fs podFS) []mount {
	var mounts []mount
	for _, m := range c.VolumeMounts {
		mounts = append(mounts, mount{path: m.MountPath, host: fs.path(m.MountPath)})
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i].path) > len(mounts[j].path) })
	return mounts
}

// rewritePaths maps a path inside the container to where the harness wrote
// it: in a value that is a mounted path, or holds one after '=' (a flag) or
// after ':' (a list), the mount path is replaced by the host directory.
func rewritePaths(s string, mounts []mount) string {
	for _, m := range mounts {
		for _, sep := range []string{"", "=", ",", ":"} {
			needle := sep + m.path
			idx := strings.Index(s, needle)
			if idx < 0 || (sep == "" && idx != 0) {
				continue
			}
			rest := s[idx+len(needle):]
			if rest != "" && rest[0] != '/' && rest[0] != ',' && rest[0] != ':' {
				continue
			}
			return s[:idx] + sep + m.host + rewritePaths(rest, mounts)
		}
	}
	return s
}

// simNetwork maps in-cluster addresses to the loopback listeners of the
// real processes standing in for them.
type simNetwork struct {
	// services maps every DNS form of a Service's name (svc, svc.ns,
	// svc.ns.svc, svc.ns.svc.cluster.local) to its ports' real loopback
	// ports, keyed by the Service port.
	services map[string]map[int]int
}

// addService records that Service ns/name's port is served on 127.0.0.1:real.
func (n *simNetwork) addService(ns, name string, port, real int) {
	if n.services == nil {
		n.services = map[string]map[int]int{}
	}
	for _, host := range []string{name, name + "." + ns, name + "." + ns + ".svc", name + "." + ns + ".svc.cluster.local"} {
		if n.services[host] == nil {
			n.services[host] = map[int]int{}
		}
		n.services[host][port] = real
	}
}

// mapEnv rewrites env in place: a variable whose value is a mapped
// Service's name becomes 127.0.0.1, and its sibling port variable (the
// chart's convention: X_HOST and X_PORT) becomes the real port. It returns
// what it changed (names only), for the log.
func (n *simNetwork) mapEnv(env map[string]string) []string {
	var changed []string
	for k, v := range env {
		ports, ok := n.services[v]
		if !ok {
			continue
		}
		env[k] = "127.0.0.1"
		changed = append(changed, k)
		if base, ok := strings.CutSuffix(k, "_HOST"); ok {
			pk := base + "_PORT"
			if p, err := strconv.Atoi(env[pk]); err == nil {
				if real, ok := ports[p]; ok {
					env[pk] = strconv.Itoa(real)
					changed = append(changed, pk)
				}
			}
		}
	}
	sort.Strings(changed)
	return changed
}

// mapConfigPaths rewrites, in the Backstage app-config file at path, the
// targets of file catalog locations that are absolute paths inside the pod
// to where fs lays them out: the one place a config's content is changed,
// because the files it points to can only live there. Everything else in
// the file is kept (re-serialized).
func mapConfigPaths(path string, fs podFS) (bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		// Not ours to judge: Backstage reports a broken file itself.
		return false, nil
	}
	catalog, _ := doc["catalog"].(map[string]any)
	locs, _ := catalog["locations"].([]any)
	changed := false
	for _, l := range locs {
		m, _ := l.(map[string]any)
		t, _ := m["target"].(string)
		if m["type"] == "file" && filepath.IsAbs(t) {
			m["target"] = fs.path(t)
			changed = true
		}
	}
	if !changed {
		return false, nil
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return false, err
	}
	return true, writeFile(path, out)
}
