package forward

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// Target is the pod and container port one forward tunnels to.
type Target struct {
	Pod  string
	Port int
}

// Knative's labels: the route's placeholder Service carries the route's
// name, and the private Service of each revision (whose EndpointSlices
// inherit its labels) the Knative Service's name and its type.
const (
	knativeRouteLabel       = "serving.knative.dev/route"
	knativeServiceLabel     = "serving.knative.dev/service"
	knativeServiceTypeLabel = "networking.internal.knative.dev/serviceType"
	knativePrivate          = "Private"
)

// knativePortNames are the private Service's port names for HTTP/1 and
// h2c (both Service port 80, to queue-proxy's 8012 or 8013), in order of
// preference.
var knativePortNames = []string{"http", "http2"}

// pickTarget chooses the pod behind svc's port remotePort from the
// Service's EndpointSlices: a ready endpoint whose targetRef is a pod, on
// the slice port that belongs to that Service port (the endpointslice
// controller has already resolved a named targetPort into the number for
// each pod). It keeps current while current is still ready, so a rolling
// update does not move a working tunnel; otherwise it takes the first pod
// by name, for a stable choice. When there is none it says why.
//
// A Knative route (KServe's predictor in serverless mode) is an
// ExternalName Service pointing at the ingress gateway, which routes by
// Host header and cannot be reached through a tunnel; for one, the pods
// come from knative, the EndpointSlices of the Knative Service's private
// revision Services, on their HTTP port (queue-proxy, which passes
// requests to the model server).
func pickTarget(svc *corev1.Service, slices, knative []*discoveryv1.EndpointSlice, remotePort int, current string) (Target, string) {
	if svc == nil {
		return Target{}, "Service not found"
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		if svc.Labels[knativeRouteLabel] == "" {
			return Target{}, fmt.Sprintf("Service is of type ExternalName (%s): it has no pods to forward to", svc.Spec.ExternalName)
		}
		for _, name := range knativePortNames {
			ports, total := readyPods(knative, name)
			if total > 0 {
				return choose(ports, total, current, "Knative revision")
			}
		}
		return Target{}, "Knative route without revision pods (scaled to zero, or no revision ready: kubectl get ksvc,revisions)"
	}
	var sp *corev1.ServicePort
	var have []string
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		have = append(have, fmt.Sprintf("%d/%s", p.Port, p.Name))
		if int(p.Port) == remotePort && (p.Protocol == "" || p.Protocol == corev1.ProtocolTCP) {
			sp = p
		}
	}
	if sp == nil {
		return Target{}, fmt.Sprintf("Service has no TCP port %d (it has %s)", remotePort, strings.Join(have, ", "))
	}
	ports, total := readyPods(slices, sp.Name)
	return choose(ports, total, current, "")
}

// readyPods maps each ready pod endpoint of slices to its port named
// portName, and counts all pod endpoints that have that port.
func readyPods(slices []*discoveryv1.EndpointSlice, portName string) (map[string]int, int) {
	ports := map[string]int{}
	total := 0
	for _, s := range slices {
		if s.AddressType == discoveryv1.AddressTypeFQDN {
			continue
		}
		port := slicePort(s, portName)
		if port == 0 {
			continue
		}
		for _, ep := range s.Endpoints {
			if ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" {
				continue
			}
			total++
			// A nil ready condition means ready, per the EndpointSlice API.
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			ports[ep.TargetRef.Name] = port
		}
	}
	return ports, total
}

// choose keeps current when it is among ports, else takes the first pod
// by name; what names the kind of pod in the reason when there is none.
func choose(ports map[string]int, total int, current, what string) (Target, string) {
	if what == "" {
		what = "pod behind the Service"
	}
	if len(ports) == 0 {
		if total == 0 {
			return Target{}, "no " + what + " (no endpoints)"
		}
		return Target{}, fmt.Sprintf("no ready %s (%d endpoints, none ready)", what, total)
	}
	if p, ok := ports[current]; ok {
		return Target{Pod: current, Port: p}, ""
	}
	names := make([]string, 0, len(ports))
	for n := range ports {
		names = append(names, n)
	}
	sort.Strings(names)
	return Target{Pod: names[0], Port: ports[names[0]]}, ""
}

// slicePort returns the port number of the slice port named name, or 0.
func slicePort(s *discoveryv1.EndpointSlice, name string) int {
	for _, p := range s.Ports {
		n := ""
		if p.Name != nil {
			n = *p.Name
		}
		if n == name && p.Port != nil && (p.Protocol == nil || *p.Protocol == corev1.ProtocolTCP) {
			return int(*p.Port)
		}
	}
	return 0
}
