package testcluster_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/neuroscale-dev/neuroscale/internal/testcluster"
)

// TestBenchCanBeHurt starts a cluster of its own (its API server goes
// away) and hurts it: a requested API server restart and etcd restart keep
// the data and ports, a crashed process is restarted by the supervisor,
// and after a kwok outage the node and pods marked not Ready in the
// meantime become Ready again.
func TestBenchCanBeHurt(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test skipped in -short mode")
	}
	if reason := testcluster.CanBuild(); reason != "" {
		t.Skip(reason)
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), testcluster.StartTimeout)
	defer cancel()
	c, err := testcluster.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	cs := c.Client(t)
	ns := c.Namespace(t)
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, configMap("before"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := os.ReadFile(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}

	for _, component := range []string{"kube-apiserver", "etcd"} {
		t.Run("restart "+component, func(t *testing.T) {
			before, err := c.Pids()
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if err := c.Restart(ctx, component, time.Second); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s restarted in %v", component, time.Since(start).Round(time.Millisecond))
			after, err := c.Pids()
			if err != nil {
				t.Fatal(err)
			}
			if after[component] == before[component] || !running(after[component]) {
				t.Errorf("%s pid %d before, %d after: not restarted", component, before[component], after[component])
			}
			for name, pid := range before {
				if name != component && after[name] != pid {
					t.Errorf("%s was restarted too (pid %d -> %d)", name, pid, after[name])
				}
			}
			// Same ports: the kubeconfig written at start still reaches it,
			// and the data survived.
			if now, err := os.ReadFile(c.Kubeconfig); err != nil || string(now) != string(kubeconfig) {
				t.Errorf("the kubeconfig changed: %v", err)
			}
			waitFor(t, "the ConfigMap written before, read through the restarted "+component, 60*time.Second, func(ctx context.Context) (bool, error) {
				_, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "before", metav1.GetOptions{})
				return err == nil, nil
			})
		})
	}

	t.Run("crashed process restarted", func(t *testing.T) {
		before, err := c.Pids()
		if err != nil {
			t.Fatal(err)
		}
		old := before["kube-scheduler"]
		if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "kube-scheduler running again under a new pid", 60*time.Second, func(context.Context) (bool, error) {
			now, err := c.Pids()
			if err != nil {
				return false, err
			}
			return now["kube-scheduler"] != old && running(now["kube-scheduler"]), nil
		})
		sup, err := os.ReadFile(filepath.Join(c.Dir, "logs", "supervisor.log"))
		if err != nil || !strings.Contains(string(sup), "kube-scheduler exited on its own") {
			t.Errorf("supervisor.log does not report the crash (err %v):\n%s", err, sup)
		}
	})

	t.Run("pods Ready again after a kwok outage", func(t *testing.T) {
		if _, err := cs.AppsV1().Deployments(ns).Create(ctx, deployment("outage", 1, nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "deployment Available", 60*time.Second, deploymentAvailable(cs, ns, "outage"))
		pids, err := c.Pids()
		if err != nil {
			t.Fatal(err)
		}
		restarted := make(chan error, 1)
		go func() { restarted <- c.Restart(ctx, "kwok", 3*time.Second) }()
		waitFor(t, "kwok down", 30*time.Second, func(context.Context) (bool, error) { return !running(pids["kwok"]), nil })
		// What the node lifecycle controller does once the node's lease is
		// older than its grace period (tens of seconds): node Unknown, its
		// pods not Ready.
		markNotReady(ctx, t, cs, ns)
		if err := <-restarted; err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		waitFor(t, "node Ready again", 60*time.Second, func(ctx context.Context) (bool, error) {
			nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
			if err != nil || len(nodes.Items) == 0 {
				return false, err
			}
			return nodeConditionTrue(&nodes.Items[0], corev1.NodeReady), nil
		})
		waitFor(t, "pods Ready again", 60*time.Second, func(ctx context.Context) (bool, error) {
			pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=outage"})
			if err != nil || len(pods.Items) == 0 {
				return false, err
			}
			for _, p := range pods.Items {
				if !podReady(&p) {
					return false, nil
				}
			}
			return true, nil
		})
		waitFor(t, "deployment Available again", 60*time.Second, deploymentAvailable(cs, ns, "outage"))
		t.Logf("recovered %v after kwok was back", time.Since(start).Round(time.Millisecond))
	})

	t.Run("unknown component", func(t *testing.T) {
		err := c.Restart(ctx, "kubelet", 0)
		if err == nil || !strings.Contains(err.Error(), "no process kubelet") {
			t.Fatalf("restart of an unknown component: %v", err)
		}
	})
}

// markNotReady does what the node lifecycle controller does to a node
// whose kubelet stopped renewing its lease: the node's Ready condition
// becomes Unknown and every pod on it loses Ready.
func markNotReady(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) == 0 {
		t.Fatalf("list nodes: %v", err)
	}
	n := &nodes.Items[0]
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == corev1.NodeReady {
			n.Status.Conditions[i].Status = corev1.ConditionUnknown
			n.Status.Conditions[i].Reason = "NodeStatusUnknown"
		}
	}
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("mark node Unknown: %v", err)
	}
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		for j := range p.Status.Conditions {
			if c := &p.Status.Conditions[j]; c.Type == corev1.PodReady || c.Type == corev1.ContainersReady {
				c.Status = corev1.ConditionFalse
			}
		}
		if _, err := cs.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("mark pod %s not Ready: %v", p.Name, err)
		}
	}
}

func nodeConditionTrue(n *corev1.Node, typ corev1.NodeConditionType) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == typ {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
