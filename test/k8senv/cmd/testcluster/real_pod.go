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
//   - Network: a pod has its own network namespace and cluster DNS; here
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
		files, err := volumeFiles(ctx, cs, pod.Namespace, v)
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

// volumeFiles returns a volume's files by relative path; nil for an emptyDir.
func volumeFiles(ctx context.Context, cs kubernetes.Interface, ns string, v corev1.Volume) (map[string][]byte, error) {
	var data map[string][]byte
	var items []corev1.KeyToPath
	switch {
	case v.ConfigMap != nil:
		cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, v.ConfigMap.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		data = map[string][]byte{}
		for k, s := range cm.Data {
			data[k] = []byte(s)
		}
		for k, b := range cm.BinaryData {
			data[k] = b
		}
		items = v.ConfigMap.Items
	case v.Secret != nil:
		s, err := cs.CoreV1().Secrets(ns).Get(ctx, v.Secret.SecretName, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		data = s.Data
		items = v.Secret.Items
	case v.EmptyDir != nil:
		return nil, nil
	case v.Projected != nil:
		// The ServiceAccount token volume every pod gets: its ConfigMap
		// (the cluster CA) is laid out; the token and downward API parts
		// are not, as no real process here talks to the API server.
		out := map[string][]byte{}
		for _, src := range v.Projected.Sources {
			var sub corev1.Volume
			switch {
			case src.ConfigMap != nil:
				sub.ConfigMap = &corev1.ConfigMapVolumeSource{LocalObjectReference: src.ConfigMap.LocalObjectReference, Items: src.ConfigMap.Items}
			case src.Secret != nil:
				sub.Secret = &corev1.SecretVolumeSource{SecretName: src.Secret.Name, Items: src.Secret.Items}
			default:
				continue
			}
			files, err := volumeFiles(ctx, cs, ns, sub)
			if err != nil {
				return nil, err
			}
			for k, b := range files {
				out[k] = b
			}
		}
		return out, nil
	default:
		return nil, fmt.Errorf("only configMap, secret, emptyDir and projected volumes are laid out for a real process")
	}
	if len(items) == 0 {
		return data, nil
	}
	out := map[string][]byte{}
	for _, it := range items {
		b, ok := data[it.Key]
		if !ok {
			return nil, fmt.Errorf("item %s: no such key", it.Key)
		}
		out[it.Path] = b
	}
	return out, nil
}

// containerEnv resolves container c's environment as the kubelet would:
// envFrom first, then env (which wins), with values from Secrets and
// ConfigMaps read from the API. Secret values stay in memory and in the
// process's environment; they are never logged.
func containerEnv(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, c *corev1.Container) (map[string]string, error) {
	ns := pod.Namespace
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		switch {
		case from.SecretRef != nil:
			s, err := cs.CoreV1().Secrets(ns).Get(ctx, from.SecretRef.Name, metav1.GetOptions{})
			if err != nil {
				if from.SecretRef.Optional != nil && *from.SecretRef.Optional {
					continue
				}
				return nil, fmt.Errorf("envFrom secret %s: %w", from.SecretRef.Name, err)
			}
			for k, v := range s.Data {
				env[from.Prefix+k] = string(v)
			}
		case from.ConfigMapRef != nil:
			cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, from.ConfigMapRef.Name, metav1.GetOptions{})
			if err != nil {
				if from.ConfigMapRef.Optional != nil && *from.ConfigMapRef.Optional {
					continue
				}
				return nil, fmt.Errorf("envFrom configmap %s: %w", from.ConfigMapRef.Name, err)
			}
			for k, v := range cm.Data {
				env[from.Prefix+k] = v
			}
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = expandEnvRefs(e.Value, env)
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			s, err := cs.CoreV1().Secrets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("env %s: secret %s: %w", e.Name, ref.Name, err)
			}
			v, ok := s.Data[ref.Key]
			if !ok {
				return nil, fmt.Errorf("env %s: secret %s has no key %s", e.Name, ref.Name, ref.Key)
			}
			env[e.Name] = string(v)
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, ref.Name, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("env %s: configmap %s: %w", e.Name, ref.Name, err)
			}
			env[e.Name] = cm.Data[ref.Key]
		case e.ValueFrom.FieldRef != nil:
			switch e.ValueFrom.FieldRef.FieldPath {
			case "metadata.name":
				env[e.Name] = pod.Name
			case "metadata.namespace":
				env[e.Name] = pod.Namespace
			case "status.podIP":
				env[e.Name] = "127.0.0.1"
			}
		}
	}
	return env, nil
}

// expandEnvRefs expands $(VAR) from earlier variables, as the kubelet does.
func expandEnvRefs(s string, env map[string]string) string {
	for k, v := range env {
		s = strings.ReplaceAll(s, "$("+k+")", v)
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
