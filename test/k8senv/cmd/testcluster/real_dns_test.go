package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestHostsFile(t *testing.T) {
	got := hostsFile(map[string][]string{
		"autoscaler.knative-serving":             {"198.18.0.5"},
		"net-kourier-controller.knative-serving": {"198.18.0.7", "198.18.0.7"},
		"empty.default":                          nil,
	}, "knative-serving")
	want := "127.0.0.1 localhost\n" +
		"198.18.0.5 autoscaler.knative-serving.svc.cluster.local autoscaler.knative-serving.svc autoscaler.knative-serving autoscaler\n" +
		"198.18.0.7 net-kourier-controller.knative-serving.svc.cluster.local net-kourier-controller.knative-serving.svc net-kourier-controller.knative-serving net-kourier-controller\n"
	if got != want {
		t.Fatalf("hosts:\n%s\nwant:\n%s", got, want)
	}
}

// TestClusterDNSRewritesInPlace: ip netns exec bind-mounts the hosts file's
// inode over /etc/hosts, so an endpoint change must rewrite that inode,
// not replace the file.
func TestClusterDNSRewritesInPlace(t *testing.T) {
	d := &clusterDNS{dir: t.TempDir(), names: map[string][]string{}, pods: map[string]string{}, slices: map[string]sliceIPs{}}
	if err := d.enter("nsb-x-7", "kourier-system"); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(d.dir, "nsb-x-7", "hosts")
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	ready := true
	d.update(&discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: "knative-serving", Name: "net-kourier-controller-abc", Labels: map[string]string{discoveryv1.LabelServiceName: "net-kourier-controller"}},
		Endpoints:  []discoveryv1.Endpoint{{Addresses: []string{"198.18.0.9"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
	}, false)
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Fatal("the hosts file was replaced, not rewritten: a running pod would keep the old one")
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), "198.18.0.9 net-kourier-controller.knative-serving.svc.cluster.local") {
		t.Fatalf("hosts after the endpoint came:\n%s", b)
	}
	r, _ := os.ReadFile(filepath.Join(d.dir, "nsb-x-7", "resolv.conf"))
	if !strings.Contains(string(r), "search kourier-system.svc.cluster.local svc.cluster.local cluster.local") {
		t.Fatalf("resolv.conf:\n%s", r)
	}
	d.leave("nsb-x-7")
	if _, err := os.Stat(filepath.Join(d.dir, "nsb-x-7")); err == nil {
		t.Fatal("the pod's /etc files are left after it went")
	}
}
