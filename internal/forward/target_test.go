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
	route := &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "kourier-internal.kourier-system.svc.cluster.local"}}
	route.Labels = map[string]string{"serving.knative.dev/route": "demo-iris-2-predictor"}
	revision := func(eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
		s := slice("http", 8012, eps...)
		metrics := "http-usermetric"
		port := int32(9091)
		s.Ports = append(s.Ports, discoveryv1.EndpointPort{Name: &metrics, Port: &port})
		return s
	}
	tests := []struct {
		name       string
		svc        *corev1.Service
		slices     []*discoveryv1.EndpointSlice
		knative    []*discoveryv1.EndpointSlice
		current    string
		want       Target
		wantReason string
	}{
		{name: "no service", wantReason: "Service not found"},
		{name: "external name", svc: &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"}},
			wantReason: "ExternalName (example.com"},
		{name: "no such port", svc: svc(metrics), wantReason: "has no TCP port 7007 (it has 9464/metrics)"},
		{name: "named target port resolved by the slice", svc: svc(backend, metrics),
			slices: []*discoveryv1.EndpointSlice{slice("metrics", 9464, ep("a", yes)), slice("http-backend", 8080, ep("b", yes))},
			want:   Target{Pod: "b", Port: 8080}},
		{name: "nil ready counts as ready", svc: svc(backend), slices: []*discoveryv1.EndpointSlice{slice("http-backend", 7007, ep("a", nil))},
			want: Target{Pod: "a", Port: 7007}},
		{name: "not ready skipped", svc: svc(backend), slices: []*discoveryv1.EndpointSlice{slice("http-backend", 7007, ep("a", no), ep("b", yes))},
			want: Target{Pod: "b", Port: 7007}},
		{name: "sticks to the current pod while ready", svc: svc(backend), slices: []*discoveryv1.EndpointSlice{slice("http-backend", 7007, ep("a", yes), ep("z", yes))}, current: "z",
			want: Target{Pod: "z", Port: 7007}},
		{name: "moves when the current pod is not ready", svc: svc(backend), slices: []*discoveryv1.EndpointSlice{slice("http-backend", 7007, ep("n", yes), ep("z", no))}, current: "z",
			want: Target{Pod: "n", Port: 7007}},
		{name: "none ready", svc: svc(backend), slices: []*discoveryv1.EndpointSlice{slice("http-backend", 7007, ep("a", no), ep("b", no))}, current: "a",
			wantReason: "2 endpoints, none ready"},
		{name: "no endpoints", svc: svc(backend), slices: []*discoveryv1.EndpointSlice{slice("http-backend", 7007)},
			wantReason: "no pod behind the Service (no endpoints)"},
		{name: "endpoint without pod ignored", svc: svc(backend), slices: []*discoveryv1.EndpointSlice{slice("http-backend", 7007, discoveryv1.Endpoint{Addresses: []string{"1.2.3.4"}})},
			wantReason: "no endpoints"},
		{name: "knative route follows the revision pods to queue-proxy", svc: route,
			knative: []*discoveryv1.EndpointSlice{revision(ep("demo-iris-2-predictor-00001-deployment-x", yes))},
			want:    Target{Pod: "demo-iris-2-predictor-00001-deployment-x", Port: 8012}},
		{name: "knative route scaled to zero", svc: route, wantReason: "Knative route without revision pods"},
		{name: "knative revision not ready", svc: route, knative: []*discoveryv1.EndpointSlice{revision(ep("p", no))},
			wantReason: "no ready Knative revision (1 endpoints, none ready)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, reason := pickTarget(tt.svc, tt.slices, tt.knative, 7007, tt.current)
			if got != tt.want {
				t.Errorf("target = %+v, want %+v", got, tt.want)
			}
			if (tt.wantReason == "") != (reason == "") || !strings.Contains(reason, tt.wantReason) {
				t.Errorf("reason = %q, want %q", reason, tt.wantReason)
			}
		})
	}
}
