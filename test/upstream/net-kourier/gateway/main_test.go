package main

import (
	"os"
	"path/filepath"
	"testing"
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
