package prepull

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// Labels of the pods a PodPuller creates, so they are easy to find and
// never mistaken for the platform's own.
const (
	labelManagedBy = "app.kubernetes.io/managed-by"
	labelComponent = "app.kubernetes.io/component"
	managedBy      = "neuroscale"
	componentValue = "prepull"
)

// PodPuller pulls an image on an existing cluster, where neuroscale has no
// way into the nodes: one short-lived Pod per node that names the image,
// so the node's kubelet pulls it through whatever mirrors the cluster
// has. The Pod's container is not meant to run: once the kubelet has the
// image, the Pod is deleted, whatever became of its container.
type PodPuller struct {
	Kube kubernetes.Interface
	// Namespace holds the pods; it is created when missing.
	Namespace string
	// Poll is how often a pod's status is read (default 500 ms).
	Poll time.Duration

	nodes []string
}

// NewPodPuller returns a puller for the cluster's nodes that take pods
// (Ready, not cordoned), looked up once.
func NewPodPuller(ctx context.Context, kube kubernetes.Interface, namespace string) (*PodPuller, error) {
	list, err := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	p := &PodPuller{Kube: kube, Namespace: namespace}
	for _, n := range list.Items {
		if !n.Spec.Unschedulable && nodeReady(&n) {
			p.nodes = append(p.nodes, n.Name)
		}
	}
	if len(p.nodes) == 0 {
		return nil, fmt.Errorf("no Ready node takes pods")
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace, Labels: map[string]string{labelManagedBy: managedBy}}}
	if _, err := kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("create namespace %s: %w", namespace, err)
	}
	return p, nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Pull pulls ref on every node; the byte count is not known this way (0).
func (p *PodPuller) Pull(ctx context.Context, ref string) (int64, error) {
	for _, node := range p.nodes {
		if err := p.pullOn(ctx, node, ref); err != nil {
			return 0, fmt.Errorf("node %s: %w", node, err)
		}
	}
	return 0, nil
}

// pullOn creates the pod for ref on node, waits until its kubelet has
// pulled the image or failed to, and deletes the pod.
func (p *PodPuller) pullOn(ctx context.Context, node, ref string) error {
	pod := p.pod(node, ref)
	pods := p.Kube.CoreV1().Pods(p.Namespace)
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create pod: %w", err)
	}
	defer func() {
		// Also when ctx ended: the pod must not outlive up.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = pods.Delete(dctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	}()
	poll := p.Poll
	if poll <= 0 {
		poll = 500 * time.Millisecond
	}
	var pullErr error
	err := wait.PollUntilContextCancel(ctx, poll, true, func(ctx context.Context) (bool, error) {
		got, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil // a blip; ctx bounds the wait
		}
		done, perr := pulled(got)
		pullErr = perr
		return done, nil
	})
	if err != nil {
		return fmt.Errorf("wait for the kubelet to pull: %w", err)
	}
	return pullErr
}

// pod is the pod that makes node's kubelet pull ref: pinned to the node
// (no scheduling, no resources to fit), tolerating every taint, never
// restarted, with a command that ends at once where the image has one.
func (p *PodPuller) pod(node, ref string) *corev1.Pod {
	sum := sha256.Sum256([]byte(node + "\x00" + ref))
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      "prepull-" + hex.EncodeToString(sum[:8]),
			Namespace: p.Namespace,
			Labels:    map[string]string{labelManagedBy: managedBy, labelComponent: componentValue},
			Annotations: map[string]string{
				"neuroscale.dev/image": ref,
			},
		},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			AutomountServiceAccountToken:  ptr.To(false),
			EnableServiceLinks:            ptr.To(false),
			Tolerations:                   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			Containers: []corev1.Container{{
				Name:            "pull",
				Image:           ref,
				ImagePullPolicy: corev1.PullIfNotPresent,
				Command:         []string{"true"},
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
					SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
				},
			}},
		},
	}
}

// pullFailures are the waiting reasons of a container whose image the
// kubelet could not get.
var pullFailures = []string{"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "RegistryUnavailable"}

// afterPull are the waiting reasons of a container whose image is there
// but that cannot run (a missing `true`, a policy on the user): the pull
// is what was wanted.
var afterPull = []string{"CreateContainerConfigError", "CreateContainerError", "RunContainerError", "CrashLoopBackOff"}

// pulled reads a prepull pod's status: done once the image is on the node
// or the pull failed (then with why).
func pulled(pod *corev1.Pod) (bool, error) {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodRunning {
		return true, nil
	}
	for _, cs := range pod.Status.ContainerStatuses {
		switch {
		case cs.ImageID != "", cs.State.Running != nil, cs.State.Terminated != nil:
			return true, nil
		case cs.State.Waiting == nil:
		case slices.Contains(pullFailures, cs.State.Waiting.Reason):
			return true, fmt.Errorf("%s: %s", cs.State.Waiting.Reason, cs.State.Waiting.Message)
		case slices.Contains(afterPull, cs.State.Waiting.Reason):
			return true, nil
		}
	}
	if pod.Status.Phase == corev1.PodFailed {
		return true, fmt.Errorf("pod failed: %s %s", pod.Status.Reason, pod.Status.Message)
	}
	return false, nil
}
