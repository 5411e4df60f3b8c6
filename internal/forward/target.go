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

// pickTarget chooses the pod behind svc's port remotePort from the
// Service's EndpointSlices: a ready endpoint whose targetRef is a pod, on
// the slice port that belongs to that Service port (the endpointslice
// controller has already resolved a named targetPort into the number for
// each pod). It keeps current while current is still ready, so a rolling
// update does not move a working tunnel; otherwise it takes the first pod
// by name, for a stable choice. When there is none it says why.
func pickTarget(svc *corev1.Service, slices []*discoveryv1.EndpointSlice, remotePort int, current string) (Target, string) {
	if svc == nil {
		return Target{}, "Service not found"
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return Target{}, fmt.Sprintf("Service is of type ExternalName (%s): it has no pods to forward to", svc.Spec.ExternalName)
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
	ports := map[string]int{}
	total := 0
	for _, s := range slices {
		if s.AddressType == discoveryv1.AddressTypeFQDN {
			continue
		}
		port := slicePort(s, sp.Name)
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
	if len(ports) == 0 {
		if total == 0 {
			return Target{}, "no pod behind the Service (no endpoints)"
		}
		return Target{}, fmt.Sprintf("no ready pod behind the Service (%d endpoints, none ready)", total)
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
