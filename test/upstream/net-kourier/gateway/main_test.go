package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	envoy "knative.dev/net-kourier/pkg/envoy/api"
)

// TestReadBootstrap reads Kourier's own bootstrap (its repeated fields
// written as single objects).
func TestReadBootstrap(t *testing.T) {
	boot := `node:
  cluster: kourier-knative
  id: 3scale-kourier-gateway
static_resources:
  clusters:
    - name: service_stats
      load_assignment:
        cluster_name: service_stats
        endpoints:
          lb_endpoints:
            endpoint:
              address:
                socket_address: {address: 127.0.0.1, port_value: 9901}
    - name: xds_cluster
      load_assignment:
        cluster_name: xds_cluster
        endpoints:
          lb_endpoints:
            endpoint:
              address:
                socket_address:
                  address: "net-kourier-controller.knative-serving"
                  port_value: 18000
      type: STRICT_DNS
`
	path := filepath.Join(t.TempDir(), "envoy-bootstrap.yaml")
	if err := os.WriteFile(path, []byte(boot), 0o600); err != nil {
		t.Fatal(err)
	}
	node, addr, err := readBootstrap(path)
	if err != nil {
		t.Fatal(err)
	}
	if node.GetId() != "3scale-kourier-gateway" || node.GetCluster() != "kourier-knative" || addr != "net-kourier-controller.knative-serving:18000" {
		t.Fatalf("node %v, xDS %s", node, addr)
	}
}

// TestRoutesAsKourierPushesThem serves the route shapes net-kourier
// generates (its own constructors): the ingress prober's request is routed
// by Host, path and the K-Network-Hash: override header to the upstream
// with the Ingress's hash in place of "override", which the upstream (here
// playing queue-proxy) echoes; other hosts get 404; the status route
// answers /ready for Host internalkourier.
func TestRoutesAsKourierPushesThem(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("K-Network-Probe") == "probe" {
			w.Header().Set("K-Network-Hash", r.Header.Get("K-Network-Hash"))
			return
		}
		fmt.Fprintf(w, "served %s %s hash=[%s]", r.Host, r.Header.Get("Knative-Serving-Namespace"), r.Header.Get("K-Network-Hash"))
	}))
	defer upstream.Close()
	host, portStr, _ := net.SplitHostPort(strings.TrimPrefix(upstream.URL, "http://"))
	port, _ := strconv.Atoi(portStr)

	const hash = "0123abcd"
	wrs := []*routev3.WeightedCluster_ClusterWeight{envoy.NewWeightedCluster("default/hello-00001", 100, map[string]string{"Knative-Serving-Namespace": "default"})}
	probe := envoy.NewRoute("probe", []*routev3.HeaderMatcher{{
		Name: "K-Network-Hash",
		HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
			MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "override"},
		}},
	}}, "/", wrs, 0, map[string]string{"K-Network-Hash": hash}, "")
	plain := envoy.NewRoute("plain", nil, "/", wrs, 0, nil, "")
	domain := "hello.default.svc.cluster.local"
	rc := envoy.NewRouteConfig("external_services", []*routev3.VirtualHost{
		envoy.NewVirtualHost("(default/hello).Domain", []string{domain, domain + ":*"}, []*routev3.Route{probe, plain}),
		envoy.NewVirtualHost("internalkourier", []string{"internalkourier"}, []*routev3.Route{
			envoy.NewRoute("gateway_ready", nil, "/ready", []*routev3.WeightedCluster_ClusterWeight{envoy.NewWeightedCluster("service_stats", 100, nil)}, time.Second, nil, ""),
		}),
	})
	cluster := envoy.NewCluster("default/hello-00001", 5*time.Second,
		[]*endpointv3.LbEndpoint{envoy.NewLBEndpoint(host, uint32(port))}, false, nil, clusterv3.Cluster_STATIC)
	g := &gateway{
		listeners: map[uint32]string{8090: rc.GetName()},
		routes:    map[string]*routev3.RouteConfiguration{rc.GetName(): rc},
		clusters:  map[string]*clusterv3.Cluster{cluster.GetName(): cluster},
	}
	gw := httptest.NewServer(g.handler(8090))
	defer gw.Close()

	for _, tc := range []struct {
		name, host string
		headers    map[string]string
		code       int
		hash, body string
	}{
		{"prober", domain, map[string]string{"K-Network-Probe": "probe", "K-Network-Hash": "override"}, 200, hash, ""},
		{"prober with a port", domain + ":80", map[string]string{"K-Network-Probe": "probe", "K-Network-Hash": "override"}, 200, hash, ""},
		{"a host no route was pushed for", "other.default.svc.cluster.local", map[string]string{"K-Network-Probe": "probe", "K-Network-Hash": "override"}, 404, "", ""},
		// No K-Network-Hash: override, so not the probe route.
		{"a request", domain, nil, 200, "", "served " + domain + " default hash=[]"},
		{"status route", "internalkourier", nil, 200, "", "LIVE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := "/"
			if tc.host == "internalkourier" {
				path = "/ready"
			}
			req, _ := http.NewRequest(http.MethodGet, gw.URL+path, nil)
			req.Host = tc.host
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != tc.code || resp.Header.Get("K-Network-Hash") != tc.hash || !strings.Contains(string(b), tc.body) {
				t.Fatalf("%d hash %q body %q, want %d hash %q body %q", resp.StatusCode, resp.Header.Get("K-Network-Hash"), b, tc.code, tc.hash, tc.body)
			}
		})
	}
}
