package forward

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func svc(ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{Spec: corev1.ServiceSpec{Ports: ports}}
}

func slice(portName string, port int32, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	tcp := corev1.ProtocolTCP
	return &discoveryv1.EndpointSlice{
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &portName, Port: &port, Protocol: &tcp}},
		Endpoints:   eps,
	}
}

func ep(pod string, ready *bool) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{
		Addresses:  []string{"10.244.0.9"},
		Conditions: discoveryv1.EndpointConditions{Ready: ready},
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Name: pod},
	}
}

func TestPickTarget(t *testing.T) {
	t.Parallel()
	yes, no := new(bool), new(bool)
	*yes = true
	backend := corev1.ServicePort{Name: "http-backend", Port: 7007, TargetPort: intstr.FromString("backend")}
	metrics := corev1.ServicePort{Name: "metrics", Port: 9464}
	tests := []struct {
		name       string
		svc        *corev1.Service
		slices     []*discoveryv1.EndpointSlice
		current    string
		want       Target
		wantReason string
	}{
		{"no service", nil, nil, "", Target{}, "Service not found"},
		{"external name", &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "kourier-internal.kourier-system.svc.cluster.local"}}, nil, "",
			Target{}, "ExternalName (kourier-internal"},
		{"no such port", svc(metrics), nil, "", Target{}, "has no TCP port 7007 (it has 9464/metrics)"},
		{"named target port resolved by the slice", svc(backend, metrics),
			[]*discoveryv1.EndpointSlice{slice("metrics", 9464, ep("a", yes)), slice("http-backend", 8080, ep("b", yes))}, "",
			Target{Pod: "b", Port: 8080}, ""},
		{"nil ready counts as ready", svc(backend), []*discoveryv1.EndpointSlice{slice("http-backend", 7007, ep("a", nil))}, "",
			Target{Pod: "a", Port: 7007}, ""},
		{"not ready skipped", svc(backend), []*discoveryv1.EndpointSlice{slice("http-backend", 7007, ep("a", no), ep("b", yes))}, "",
			Target{Pod: "b", Port: 7007}, ""},
		{"sticks to the current pod while ready", svc(backend), []*discoveryv1.EndpointSlice{slice("http-backend", 7007, ep("a", yes), ep("z", yes))}, "z",
			Target{Pod: "z", Port: 7007}, ""},
		{"moves when the current pod is not ready", svc(backend), []*discoveryv1.EndpointSlice{slice("http-backend", 7007, ep("n", yes), ep("z", no))}, "z",
			Target{Pod: "n", Port: 7007}, ""},
		{"none ready", svc(backend), []*discoveryv1.EndpointSlice{slice("http-backend", 7007, ep("a", no), ep("b", no))}, "a",
			Target{}, "2 endpoints, none ready"},
		{"no endpoints", svc(backend), []*discoveryv1.EndpointSlice{slice("http-backend", 7007)}, "",
			Target{}, "no endpoints"},
		{"endpoint without pod ignored", svc(backend), []*discoveryv1.EndpointSlice{slice("http-backend", 7007, discoveryv1.Endpoint{Addresses: []string{"1.2.3.4"}})}, "",
			Target{}, "no endpoints"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, reason := pickTarget(tt.svc, tt.slices, 7007, tt.current)
			if got != tt.want {
				t.Errorf("target = %+v, want %+v", got, tt.want)
			}
			if (tt.wantReason == "") != (reason == "") || !strings.Contains(reason, tt.wantReason) {
				t.Errorf("reason = %q, want %q", reason, tt.wantReason)
			}
		})
	}
}
