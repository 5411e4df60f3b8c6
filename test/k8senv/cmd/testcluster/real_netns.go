package main

// The pod network of a bench with --real=controllers. The programs that
// play pods (real_harness.go) must listen on their pods' IPs: the API
// server calls a webhook or an aggregated API at the address of its
// Service's endpoints (--enable-aggregator-routing), which is the pod IP.
// Loopback addresses cannot be pod IPs (the API server refuses them in
// EndpointSlices), and no traffic may go to other addresses of this machine
// than 127.0.0.0/8 and the hosts of network namespaces we create ourselves.
// So each bench creates its own network namespace, nsb-<id>, joined to the
// root namespace by a veth pair:
//
//	root namespace                          nsb-<id> (a router)          nsb-<id>-<k> (one per pod)
//	vb<id>  198.18.N.1/24  <== veth ==>  eth0    p<k> <== veth ==>  eth0  198.18.N.k/32
//	  kube-apiserver on 127.0.0.1:P         routes 198.18.N.k/32 dev p<k>      the pod's programs, run
//	  and, forwarded, on 198.18.N.1:P        proxy ARP, forwarding           with `ip netns exec`
//
// kwok hands out pod IPs from 198.18.N.1/24 (from .2 up). Each pod gets a
// namespace of its own, as on a kubelet, before the harness starts its
// programs: its containers share it (queue-proxy reaches the model server
// at 127.0.0.1) and two pods may bind the same port (every Knative
// revision pod's queue-proxy binds :8012, as does the activator). The
// bench namespace routes between the pods and the node side; its veth ends
// answer ARP for the addresses behind them (proxy ARP), so neither side
// needs a gateway address. The programs reach the API server at
// 198.18.N.1, the node-side address, where the launcher forwards to the
// API server's loopback listener (kube-apiserver binds one address; the
// serving certificate names both).
//
// N is allocated among the benches of this machine under a lock, from
// 198.18.0.0/15 (RFC 2544's benchmarking range, routed nowhere): the first
// /24 no interface of the root namespace has an address in. Every bench
// records its namespace and owner in podNetRegistry; a namespace whose
// owner (the launcher) is gone is reclaimed at the next allocation, and
// scripts/testcluster stop removes it too (DIR/netns), should the launcher
// have been killed.

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// podNetRegistry holds a lock file and one record per live bench
// namespace ("PID START DIR": the launcher, its start time, so a reused pid
// is not taken for it, and its directory), shared by every bench on the
// machine.
const podNetRegistry = "/run/neuroscale-testcluster"

// podNetwork is one bench's network namespace and veth pair.
type podNetwork struct {
	name   string // network namespace
	hostIf string // veth end in the root namespace
	nodeIP string // address of hostIf: the node, as pods see it
	cidr   string // kwok's --cidr: pod IPs from nodeIP+1
	dir    string

	mu        sync.Mutex
	listeners []net.Listener
	pods      map[string]podNetNS // by pod IP
}

// podNetNS is the network namespace of one pod.
type podNetNS struct {
	uid  string // the pod's: kwok reuses the IPs of deleted pods
	name string
	veth string // its end in the bench namespace
}

// podNetworkUnsupported says why this machine cannot create a bench
// network namespace, or "" if it can: it needs iproute2's ip, and
// CAP_NET_ADMIN and CAP_SYS_ADMIN (ip netns add mounts the namespace).
func podNetworkUnsupported() string {
	if _, err := exec.LookPath("ip"); err != nil {
		return "ip (iproute2) not found on PATH: --real=controllers puts the pods in a network namespace of the bench's own"
	}
	caps, err := effectiveCaps()
	if err != nil {
		return "cannot read this process's capabilities: " + err.Error()
	}
	const netAdmin, sysAdmin = 12, 21
	if caps&(1<<netAdmin) == 0 || caps&(1<<sysAdmin) == 0 {
		return "--real=controllers creates a network namespace and a veth pair for the pods (ip netns add): it needs root, or CAP_NET_ADMIN and CAP_SYS_ADMIN"
	}
	return ""
}

// effectiveCaps reads CapEff of this process.
func effectiveCaps() (uint64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, errors.New("no CapEff in /proc/self/status")
}

// benchID names a bench's network objects: derived from its directory, so
// a restarted bench finds (and replaces) what a killed one left; short, as
// interface names have at most 15 bytes.
func benchID(dir string) string {
	sum := sha256.Sum256([]byte(dir))
	return hex.EncodeToString(sum[:])[:8]
}

// newPodNetwork creates the bench's network namespace and veth pair.
func newPodNetwork(dir string) (*podNetwork, error) {
	if why := podNetworkUnsupported(); why != "" {
		return nil, errors.New(why)
	}
	id := benchID(dir)
	n := &podNetwork{name: "nsb-" + id, hostIf: "vb" + id, dir: dir, pods: map[string]podNetNS{}}
	if err := os.MkdirAll(podNetRegistry, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", podNetRegistry, err)
	}
	lock, err := os.OpenFile(filepath.Join(podNetRegistry, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open network lock: %w", err)
	}
	defer lock.Close()
	// Benches start in parallel: one allocates at a time.
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return nil, fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	defer func() { _ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) }()
	reclaimPodNetworks()
	if _, err := os.Stat(filepath.Join(podNetRegistry, n.name)); err == nil {
		return nil, fmt.Errorf("network namespace %s of a bench in %s still exists and its launcher runs: run scripts/testcluster stop %s first", n.name, dir, dir)
	}
	// Left without a record (a crash between the two): nobody owns it.
	removePodNetwork(n.name, n.hostIf)
	sub, err := freeSubnet()
	if err != nil {
		return nil, err
	}
	n.nodeIP = fmt.Sprintf("198.%d.%d.1", 18+sub/256, sub%256)
	n.cidr = n.nodeIP + "/24"
	if err := n.create(); err != nil {
		n.remove()
		return nil, err
	}
	return n, nil
}

// create runs the ip commands that build the namespace; each failure says
// which command failed and why.
func (n *podNetwork) create() error {
	peer := "vp" + strings.TrimPrefix(n.hostIf, "vb")
	network := strings.TrimSuffix(n.nodeIP, ".1") + ".0/24"
	steps := [][]string{
		{"netns", "add", n.name},
		{"link", "add", n.hostIf, "type", "veth", "peer", "name", peer},
		{"link", "set", peer, "netns", n.name},
		{"-n", n.name, "link", "set", peer, "name", "eth0"},
		{"-n", n.name, "link", "set", "lo", "up"},
		{"-n", n.name, "link", "set", "eth0", "up"},
		{"addr", "add", n.cidr, "dev", n.hostIf},
		{"link", "set", n.hostIf, "up"},
		// The node side is reached by this route, each pod by its own /32.
		{"-n", n.name, "route", "add", network, "dev", "eth0", "scope", "link"},
	}
	// The record comes first, so whatever exists is reclaimable.
	record := fmt.Sprintf("%d %s %s\n", os.Getpid(), procStart(os.Getpid()), n.dir)
	if err := os.WriteFile(filepath.Join(podNetRegistry, n.name), []byte(record), 0o644); err != nil {
		return fmt.Errorf("record network namespace: %w", err)
	}
	if err := os.WriteFile(filepath.Join(n.dir, "netns"), []byte(n.name+" "+n.hostIf+"\n"), 0o644); err != nil {
		return fmt.Errorf("record network namespace: %w", err)
	}
	for _, s := range steps {
		if err := ipCmd(s...); err != nil {
			return err
		}
	}
	// The bench namespace routes between the node side and the pods, and
	// answers ARP on eth0 for the pods behind it.
	return n.sysctl(n.name, "net.ipv4.ip_forward", "net.ipv4.conf.eth0.proxy_arp")
}

// sysctl sets the named settings of the namespace ns to 1.
func (n *podNetwork) sysctl(ns string, keys ...string) error {
	args := []string{"netns", "exec", ns, "sysctl", "-q", "-w"}
	for _, k := range keys {
		args = append(args, k+"=1")
	}
	return ipCmd(args...)
}

func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %s (%w)", strings.Join(args, " "), strings.TrimSpace(string(out)), err)
	}
	return nil
}

// freeSubnet returns the index (0..511) of the first /24 of 198.18.0.0/15
// that no interface of the root namespace has an address in.
func freeSubnet() (int, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return 0, fmt.Errorf("list interfaces: %w", err)
	}
	used := map[int]bool{}
	for _, i := range ifs {
		addrs, err := i.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			if ip4 := ipn.IP.To4(); ip4 != nil && ip4[0] == 198 && (ip4[1] == 18 || ip4[1] == 19) {
				used[int(ip4[1]-18)*256+int(ip4[2])] = true
			}
		}
	}
	for s := 0; s < 512; s++ {
		if !used[s] {
			return s, nil
		}
	}
	return 0, errors.New("all 512 /24s of 198.18.0.0/15 are taken by running benches")
}

// reclaimPodNetworks removes the namespaces of benches whose launcher is
// gone (killed before it could clean up). Called under the lock.
func reclaimPodNetworks() {
	entries, err := os.ReadDir(podNetRegistry)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "nsb-") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(podNetRegistry, e.Name()))
		if err != nil {
			continue
		}
		f := strings.SplitN(strings.TrimSpace(string(b)), " ", 3)
		if len(f) == 3 {
			if pid, err := strconv.Atoi(f[0]); err == nil && procStart(pid) == f[1] {
				continue
			}
		} else {
			f = []string{"?", "", "?"}
		}
		removePodNetwork(e.Name(), "vb"+strings.TrimPrefix(e.Name(), "nsb-"))
		fmt.Fprintf(os.Stderr, "testcluster: removed network namespace %s of a bench whose launcher (pid %s, %s) is gone\n", e.Name(), f[0], f[2])
	}
}

// removePodNetwork deletes a bench namespace and its pods' (which deletes
// their veth ends and so the pairs) and its record; what is already gone is
// no error.
func removePodNetwork(name, hostIf string) {
	pods, _ := filepath.Glob(filepath.Join("/run/netns", name+"-*"))
	for _, p := range pods {
		_ = exec.Command("ip", "netns", "delete", filepath.Base(p)).Run()
	}
	_ = exec.Command("ip", "netns", "delete", name).Run()
	_ = exec.Command("ip", "link", "delete", hostIf).Run()
	removeEtcNetns(name)
	_ = os.Remove(filepath.Join(podNetRegistry, name))
}

// remove stops the API forward and deletes the namespace.
func (n *podNetwork) remove() {
	if n == nil {
		return
	}
	n.mu.Lock()
	for _, l := range n.listeners {
		_ = l.Close()
	}
	n.listeners = nil
	n.mu.Unlock()
	removePodNetwork(n.name, n.hostIf)
	_ = os.Remove(filepath.Join(n.dir, "netns"))
}

// enterPod returns the network namespace of the pod uid with address ip,
// creating it on the first call (the pod's containers share it). A
// namespace left by a deleted pod whose IP kwok handed out again is
// replaced.
func (n *podNetwork) enterPod(uid, ip string) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if p, ok := n.pods[ip]; ok {
		if p.uid == uid {
			return p.name, nil
		}
		n.removePod(ip, p)
	}
	_, cidr, err := net.ParseCIDR(n.cidr)
	if err != nil || !cidr.Contains(net.ParseIP(ip)) || ip == n.nodeIP {
		return "", fmt.Errorf("pod IP %q is not in the bench's pod range %s", ip, n.cidr)
	}
	k := ip[strings.LastIndexByte(ip, '.')+1:]
	p := podNetNS{uid: uid, name: n.name + "-" + k, veth: "p" + k}
	peer := "q" + k
	// What a killed launcher or a failed attempt left goes first.
	_ = exec.Command("ip", "netns", "delete", p.name).Run()
	_ = exec.Command("ip", "-n", n.name, "link", "delete", p.veth).Run()
	steps := [][]string{
		{"netns", "add", p.name},
		{"-n", n.name, "link", "add", p.veth, "type", "veth", "peer", "name", peer},
		{"-n", n.name, "link", "set", peer, "netns", p.name},
		{"-n", p.name, "link", "set", peer, "name", "eth0"},
		{"-n", p.name, "link", "set", "lo", "up"},
		{"-n", p.name, "addr", "add", ip + "/32", "dev", "eth0"},
		{"-n", p.name, "link", "set", "eth0", "up"},
		// Every address of the range is on the link: the bench side answers
		// ARP for the node and the other pods.
		{"-n", p.name, "route", "add", cidr.String(), "dev", "eth0", "scope", "link"},
		{"-n", n.name, "link", "set", p.veth, "up"},
		{"-n", n.name, "route", "replace", ip + "/32", "dev", p.veth},
	}
	for _, s := range steps {
		if err := ipCmd(s...); err != nil {
			n.removePod(ip, p)
			return "", err
		}
	}
	if err := n.sysctl(n.name, "net.ipv4.conf."+p.veth+".proxy_arp"); err != nil {
		n.removePod(ip, p)
		return "", err
	}
	n.pods[ip] = p
	return p.name, nil
}

// leavePod removes the network namespace of the pod uid, once its
// programs stopped, and returns its name.
func (n *podNetwork) leavePod(uid string) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var names []string
	for ip, p := range n.pods {
		if p.uid == uid {
			n.removePod(ip, p)
			names = append(names, p.name)
		}
	}
	return names
}

// removePod deletes a pod's namespace (and with it the veth pair). Called
// under n.mu.
func (n *podNetwork) removePod(ip string, p podNetNS) {
	_ = exec.Command("ip", "netns", "delete", p.name).Run()
	_ = exec.Command("ip", "-n", n.name, "link", "delete", p.veth).Run()
	delete(n.pods, ip)
}

// command returns a command that runs bin inside the network namespace ns
// (the bench's or a pod's). ip netns exec enters it and execs bin in place,
// so the pid is bin's.
func (n *podNetwork) command(ns, bin string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns, bin}, args...)...)
}

// forwardAPI serves the API server, listening on 127.0.0.1:port, on the
// node-side address too (same port), for the programs in the namespace.
// It runs until remove.
func (n *podNetwork) forwardAPI(port int) (string, error) {
	addr := net.JoinHostPort(n.nodeIP, strconv.Itoa(port))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("forward the API server to the pods' network: %w", err)
	}
	n.mu.Lock()
	n.listeners = append(n.listeners, l)
	n.mu.Unlock()
	target := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return // closed by remove
			}
			go proxyConn(c, target)
		}
	}()
	return "https://" + addr, nil
}

// proxyConn copies bytes both ways between c and target; TLS passes
// through untouched.
func proxyConn(c net.Conn, target string) {
	defer c.Close()
	t, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer t.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(t, c); closeWrite(t); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, t); closeWrite(c); done <- struct{}{} }()
	<-done
	<-done
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}
