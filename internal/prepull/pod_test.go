package prepull

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func readyNode(name string, cordoned bool) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.NodeSpec{Unschedulable: cordoned},
		Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}},
	}
}

// TestPodPuller pulls through pods on an existing cluster whose kubelet
// (played by a reactor) reports each pod's container as the kubelet
// would: a pulled image ends the wait and the pod is deleted, a refused
// pull is the failure, and a cordoned node gets no pod.
func TestPodPuller(t *testing.T) {
	tests := []struct {
		name    string
		status  corev1.ContainerStatus
		wantErr string
	}{
		{"running", corev1.ContainerStatus{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}, ""},
		{"no true in the image", corev1.ContainerStatus{ImageID: "sha256:1", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "StartError", ExitCode: 128}}}, ""},
		{"runs as root under a policy", corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError"}}}, ""},
		{"registry refuses", corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "not found"}}}, "ErrImagePull: not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kube := fake.NewClientset(readyNode("n1", false), readyNode("n2", true))
			var mu sync.Mutex
			var created, deleted []string
			kube.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
				pod := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
				mu.Lock()
				created = append(created, pod.Spec.NodeName+" "+pod.Spec.Containers[0].Image)
				mu.Unlock()
				// First pending (pulling), then the kubelet's verdict: the
				// puller must wait past the first read.
				pod.Status.ContainerStatuses = []corev1.ContainerStatus{{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}
				reads := 0
				kube.PrependReactor("get", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
					reads++
					p := pod.DeepCopy()
					if reads > 1 {
						p.Status.ContainerStatuses = []corev1.ContainerStatus{tt.status}
					}
					return true, p, nil
				})
				return false, nil, nil
			})
			kube.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
				mu.Lock()
				deleted = append(deleted, a.(k8stesting.DeleteAction).GetName())
				mu.Unlock()
				return false, nil, nil
			})
			pl, err := NewPodPuller(context.Background(), kube, "neuroscale-system")
			if err != nil {
				t.Fatal(err)
			}
			pl.Poll = time.Millisecond
			_, err = pl.Pull(context.Background(), "ghcr.io/backstage/backstage:1.45.0")
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatal(err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got %v, want %q", err, tt.wantErr)
			}
			if len(created) != 1 || created[0] != "n1 ghcr.io/backstage/backstage:1.45.0" {
				t.Errorf("pods created %q, want one on the schedulable node n1", created)
			}
			if len(deleted) != 1 {
				t.Errorf("pods deleted %q, want the one created", deleted)
			}
		})
	}
}

func TestNewPodPullerNoNode(t *testing.T) {
	if _, err := NewPodPuller(context.Background(), fake.NewClientset(readyNode("n", true)), "ns"); err == nil {
		t.Fatal("want an error when no node takes pods")
	}
}
