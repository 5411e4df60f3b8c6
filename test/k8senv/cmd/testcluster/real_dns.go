package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// Cluster DNS for the real programs. The bench routes no Service IPs and
// runs no DNS server, but the programs dial Services by name (Knative's
// activator keeps a websocket to autoscaler.knative-serving.svc.cluster.local
// and is not Ready without it; Kourier's gateway fetches its configuration
// from net-kourier-controller.knative-serving). So each pod's network
// namespace gets its own /etc/hosts, which `ip netns exec` mounts over
// /etc/hosts from /etc/netns/NAME/: every Service name resolves to the IPs
// of its ready endpoints (the pod IPs, which the bench routes), as a
// headless Service would. The file is rewritten in place (ip netns exec
// bind-mounts the inode) whenever an EndpointSlice changes; Go's resolver
// rereads it when it changes. resolv.conf names the cluster's search path
// and a nameserver on the pod's own loopback where nothing listens, so
// other names fail at once and no query leaves the bench.

// etcNetns is where ip netns exec finds a namespace's own /etc files.
const etcNetns = "/etc/netns"

// clusterDNS keeps the hosts files of the pods' namespaces.
type clusterDNS struct {
	dir string // etcNetns; a test's own directory in tests

	mu sync.Mutex
	// names holds the ready endpoint IPs of each Service, by "name.namespace".
	names map[string][]string
	// pods maps a pod network namespace to the pod's Kubernetes namespace
	// (for the short names and search path).
	pods map[string]string
	// slices holds the ready IPs of each EndpointSlice, by namespace/name.
	slices map[string]sliceIPs
}

type sliceIPs struct {
	service string // "name.namespace"
	ips     []string
}

func newClusterDNS(f informers.SharedInformerFactory) *clusterDNS {
	d := &clusterDNS{dir: etcNetns, names: map[string][]string{}, pods: map[string]string{}, slices: map[string]sliceIPs{}}
	inf := f.Discovery().V1().EndpointSlices().Informer()
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { d.update(obj, false) },
		UpdateFunc: func(_, obj any) { d.update(obj, false) },
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			d.update(obj, true)
		},
	})
	return d
}

func (d *clusterDNS) update(obj any, deleted bool) {
	es, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return
	}
	svc := es.Labels[discoveryv1.LabelServiceName]
	if svc == "" {
		return
	}
	key := es.Namespace + "/" + es.Name
	var ips []string
	if !deleted {
		for _, ep := range es.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			ips = append(ips, ep.Addresses...)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if deleted {
		delete(d.slices, key)
	} else {
		d.slices[key] = sliceIPs{service: svc + "." + es.Namespace, ips: ips}
	}
	names := map[string][]string{}
	for _, s := range d.slices {
		names[s.service] = append(names[s.service], s.ips...)
	}
	if fmt.Sprint(names) == fmt.Sprint(d.names) {
		return
	}
	d.names = names
	for ns, podNamespace := range d.pods {
		_ = d.write(ns, podNamespace)
	}
}

// enter writes the /etc files of a pod's network namespace; the pod's
// programs are started after it.
func (d *clusterDNS) enter(netns, podNamespace string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pods[netns] = podNamespace
	dir := filepath.Join(d.dir, netns)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	resolv := fmt.Sprintf("# written by the test bench: Service names are in /etc/hosts\nnameserver 127.0.0.1\nsearch %s.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n", podNamespace)
	if err := os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte(resolv), 0o644); err != nil {
		return fmt.Errorf("write resolv.conf of %s: %w", netns, err)
	}
	return d.write(netns, podNamespace)
}

// leave removes a pod namespace's /etc files.
func (d *clusterDNS) leave(netns string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.pods, netns)
	_ = os.RemoveAll(filepath.Join(d.dir, netns))
}

// write rewrites the hosts file in place. Called under d.mu.
func (d *clusterDNS) write(netns, podNamespace string) error {
	path := filepath.Join(d.dir, netns, "hosts")
	if err := os.WriteFile(path, []byte(hostsFile(d.names, podNamespace)), 0o644); err != nil {
		return fmt.Errorf("write hosts of %s: %w", netns, err)
	}
	return nil
}

// hostsFile renders the names for a pod in podNamespace: every Service as
// NAME.NS.svc.cluster.local, NAME.NS.svc and NAME.NS, and the pod's own
// namespace's Services by their short name too.
func hostsFile(names map[string][]string, podNamespace string) string {
	keys := make([]string, 0, len(names))
	for k := range names {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("127.0.0.1 localhost\n")
	for _, k := range keys {
		aliases := []string{k + ".svc.cluster.local", k + ".svc", k}
		if name, ns, _ := strings.Cut(k, "."); ns == podNamespace {
			aliases = append(aliases, name)
		}
		ips := append([]string(nil), names[k]...)
		sort.Strings(ips)
		for i, ip := range ips {
			if i > 0 && ips[i-1] == ip {
				continue
			}
			fmt.Fprintf(&b, "%s %s\n", ip, strings.Join(aliases, " "))
		}
	}
	return b.String()
}

// removeEtcNetns removes the /etc files of a bench's pod namespaces.
func removeEtcNetns(bench string) {
	dirs, _ := filepath.Glob(filepath.Join(etcNetns, bench+"-*"))
	for _, d := range dirs {
		_ = os.RemoveAll(d)
	}
}
