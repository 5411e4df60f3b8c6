package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary play a program inside a pod network: with
// NETNS_TEST_DIAL=ADDR it dials ADDR, prints the first line it reads and
// exits; with NETNS_TEST_LISTEN=ADDR it serves one line on ADDR.
func TestMain(m *testing.M) {
	if addr := os.Getenv("NETNS_TEST_DIAL"); addr != "" {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			fmt.Println("dial:", err)
			os.Exit(1)
		}
		line, _ := bufio.NewReader(c).ReadString('\n')
		fmt.Print(line)
		os.Exit(0)
	}
	if addr := os.Getenv("NETNS_TEST_LISTEN"); addr != "" {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Println("listen:", err)
			os.Exit(1)
		}
		fmt.Println("listening")
		c, err := l.Accept()
		if err != nil {
			os.Exit(1)
		}
		fmt.Fprintln(c, "pod")
		c.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestPodNetwork creates a bench's pod network: a pod IP added to it is
// reachable from the root namespace (as the API server calls a webhook),
// the API forward is reachable from inside, two benches get different
// subnets, and remove leaves nothing behind.
func TestPodNetwork(t *testing.T) {
	if why := podNetworkUnsupported(); why != "" {
		t.Skip(why)
	}
	a, err := newPodNetwork(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer a.remove()
	b, err := newPodNetwork(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer b.remove()
	if a.cidr == b.cidr {
		t.Fatalf("two benches share the pod range %s", a.cidr)
	}

	// A pod gets a namespace of its own with its IP; its programs run there.
	podIP := strings.TrimSuffix(a.nodeIP, ".1") + ".7"
	pod, err := a.enterPod("uid-7", podIP)
	if err != nil {
		t.Fatal(err)
	}

	// The API server forward: a loopback server reached from inside.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			fmt.Fprintln(c, "api server")
			c.Close()
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	url, err := a.forwardAPI(port)
	if err != nil {
		t.Fatal(err)
	}
	inside := a.command(pod, os.Args[0], "-test.run=^$")
	inside.Env = append(os.Environ(), "NETNS_TEST_DIAL="+strings.TrimPrefix(url, "https://"))
	out, err := inside.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "api server" {
		t.Fatalf("from inside %s, %s: %v: %s", a.name, url, err, out)
	}
	// Loopback inside the namespace is its own, not the machine's.
	inside = a.command(pod, os.Args[0], "-test.run=^$")
	inside.Env = append(os.Environ(), fmt.Sprintf("NETNS_TEST_DIAL=127.0.0.1:%d", port))
	if out, err := inside.CombinedOutput(); err == nil {
		t.Fatalf("the machine's loopback is reachable from inside %s: %s", a.name, out)
	}

	// A pod IP: a listener inside, reached from here.
	if again, err := a.enterPod("uid-7", podIP); err != nil || again != pod {
		t.Fatalf("entering a pod twice: %q, %v (want %q)", again, err, pod)
	}
	if _, err := a.enterPod("uid-x", "10.1.2.3"); err == nil {
		t.Fatal("a pod IP outside the range was accepted")
	}
	serve := a.command(pod, os.Args[0], "-test.run=^$")
	serve.Env = append(os.Environ(), "NETNS_TEST_LISTEN="+podIP+":9443")
	stdout, err := serve.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = serve.Process.Kill(); _ = serve.Wait() }()
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); strings.TrimSpace(line) != "listening" {
		t.Fatalf("listener inside %s: %q", a.name, line)
	}
	c, err := net.Dial("tcp", podIP+":9443")
	if err != nil {
		t.Fatalf("pod IP %s not reachable from the root namespace: %v", podIP, err)
	}
	line, _ := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if strings.TrimSpace(line) != "pod" {
		t.Fatalf("from %s: %q", podIP, line)
	}
	if _, err := net.Dial("tcp", strings.TrimSuffix(b.nodeIP, ".1")+".7:9443"); err == nil {
		t.Fatal("another bench's range reaches this bench's pod")
	}

	// Two pods bind the same port (each has its own namespace) and reach
	// each other at their IPs.
	otherIP := strings.TrimSuffix(a.nodeIP, ".1") + ".8"
	other, err := a.enterPod("uid-8", otherIP)
	if err != nil {
		t.Fatal(err)
	}
	serve2 := a.command(other, os.Args[0], "-test.run=^$")
	serve2.Env = append(os.Environ(), "NETNS_TEST_LISTEN="+otherIP+":9443")
	stdout2, err := serve2.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := serve2.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = serve2.Process.Kill(); _ = serve2.Wait() }()
	if line, _ := bufio.NewReader(stdout2).ReadString('\n'); strings.TrimSpace(line) != "listening" {
		t.Fatalf("second listener on port 9443 in %s: %q", other, line)
	}
	dial := a.command(pod, os.Args[0], "-test.run=^$")
	dial.Env = append(os.Environ(), "NETNS_TEST_DIAL="+otherIP+":9443")
	if out, err := dial.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "pod" {
		t.Fatalf("pod %s to pod %s: %v: %s", podIP, otherIP, err, out)
	}
	// A deleted pod's IP handed to a new pod: a fresh namespace.
	a.leavePod("uid-8")
	if _, err := os.Stat(filepath.Join("/run/netns", other)); err == nil {
		t.Fatalf("namespace %s left after its pod went", other)
	}

	name, hostIf := a.name, a.hostIf
	a.remove()
	for _, ns := range []string{name, pod} {
		if _, err := os.Stat(filepath.Join("/run/netns", ns)); err == nil {
			t.Fatalf("network namespace %s left after remove", ns)
		}
	}
	if _, err := net.InterfaceByName(hostIf); err == nil {
		t.Fatalf("veth %s left after remove", hostIf)
	}
}

// TestPodNetworkReclaim: the namespace of a bench whose launcher died
// (its record names a process that is gone) is removed by the next bench's
// allocation, and its subnet is free again.
func TestPodNetworkReclaim(t *testing.T) {
	if why := podNetworkUnsupported(); why != "" {
		t.Skip(why)
	}
	dead, err := newPodNetwork(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dead.remove()
	record := filepath.Join(podNetRegistry, dead.name)
	if err := os.WriteFile(record, []byte("999999999 1 /gone\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	next, err := newPodNetwork(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer next.remove()
	if _, err := os.Stat(filepath.Join("/run/netns", dead.name)); err == nil {
		t.Fatalf("the dead bench's namespace %s was not reclaimed", dead.name)
	}
	if _, err := net.InterfaceByName(dead.hostIf); err == nil {
		t.Fatalf("the dead bench's veth %s was not reclaimed", dead.hostIf)
	}
	if next.cidr != dead.cidr {
		t.Logf("reclaimed range %s, new bench got %s (another bench holds a lower one)", dead.cidr, next.cidr)
	}
}
