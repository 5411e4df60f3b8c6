package doctor

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/neuroscale-dev/neuroscale/internal/cluster/k3d"
	"github.com/neuroscale-dev/neuroscale/internal/content"
)

// webhookRef is one admission webhook calling one Service.
type webhookRef struct {
	config, webhook, failurePolicy string
}

// checkWebhooks finds admission webhooks whose Service has no ready
// endpoint: every request they intercept then fails ("no endpoints
// available for service"), as the seed's KServe webhook did while its
// kube-rbac-proxy could not pull.
func checkWebhooks(ctx context.Context, e *env) ([]Finding, error) {
	refs := map[string][]webhookRef{}
	add := func(cfg, webhook string, svc *admissionregistrationv1.ServiceReference, fp *admissionregistrationv1.FailurePolicyType) {
		if svc == nil {
			return
		}
		policy := admissionregistrationv1.Fail
		if fp != nil {
			policy = *fp
		}
		key := svc.Namespace + "/" + svc.Name
		refs[key] = append(refs[key], webhookRef{config: cfg, webhook: webhook, failurePolicy: string(policy)})
	}
	vs, err := e.Kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list validating webhook configurations: %w", err)
	}
	for _, c := range vs.Items {
		for _, w := range c.Webhooks {
			add("ValidatingWebhookConfiguration "+c.Name, w.Name, w.ClientConfig.Service, w.FailurePolicy)
		}
	}
	ms, err := e.Kube.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list mutating webhook configurations: %w", err)
	}
	for _, c := range ms.Items {
		for _, w := range c.Webhooks {
			add("MutatingWebhookConfiguration "+c.Name, w.Name, w.ClientConfig.Service, w.FailurePolicy)
		}
	}
	var out []Finding
	for _, key := range sortedKeys(refs) {
		ns, svc, _ := strings.Cut(key, "/")
		ready, total, err := e.readyEndpoints(ctx, ns, svc)
		if err != nil {
			return out, err
		}
		if ready > 0 {
			continue
		}
		var hooks []string
		for _, r := range refs[key] {
			hooks = append(hooks, fmt.Sprintf("%s in %s (failurePolicy %s)", r.webhook, r.config, r.failurePolicy))
		}
		state := fmt.Sprintf("Service %s has %d endpoints, none ready", key, total)
		if total < 0 {
			state = "Service " + key + " does not exist"
		}
		out = append(out, Finding{
			ID:       IDWebhookNoEndpoints,
			Object:   object("Service", ns, svc),
			Message:  "an admission webhook's Service has no ready endpoints: every request it intercepts fails with \"no endpoints available for service\" (ArgoCD syncs and installs stall)",
			Fix:      fmt.Sprintf("kubectl -n %s get pods shows why the webhook's pods are not ready (an image that cannot be pulled, as the seed's kube-rbac-proxy); neuroscale up waits for them", ns),
			Evidence: state + "; called by " + firstN(hooks, "; "),
		})
	}
	return out, nil
}

// readyEndpoints counts the ready and all pod endpoints of Service ns/name
// across its EndpointSlices; total is -1 when the Service does not exist.
func (e *env) readyEndpoints(ctx context.Context, ns, name string) (ready, total int, err error) {
	if _, err := e.Kube.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		return 0, -1, nil
	} else if err != nil {
		return 0, 0, fmt.Errorf("get service %s/%s: %w", ns, name, err)
	}
	slices, err := e.Kube.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + name})
	if err != nil {
		return 0, 0, fmt.Errorf("list endpointslices of %s/%s: %w", ns, name, err)
	}
	for _, s := range slices.Items {
		for _, ep := range s.Endpoints {
			total++
			if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
				ready++
			}
		}
	}
	return ready, total, nil
}

func checkTraefik(ctx context.Context, e *env) ([]Finding, error) {
	err := k3d.CheckNoTraefik(ctx, e.REST)
	var te *k3d.TraefikError
	if !errors.As(err, &te) {
		return nil, err
	}
	return []Finding{{
		ID:       IDTraefikPresent,
		Object:   "traefik",
		Message:  "Traefik is installed: behind k3s's servicelb it takes ports 80/443 from Kourier and answers inference calls with a 307 redirect to https",
		Fix:      te.Hint(),
		Evidence: "found " + strings.Join(te.Found, ", "),
	}}, nil
}

// InferenceServiceGVR is KServe's InferenceService.
var InferenceServiceGVR = schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1beta1", Resource: "inferenceservices"}

func checkInferenceServices(ctx context.Context, e *env) ([]Finding, error) {
	list, err := e.Dynamic.Resource(InferenceServiceGVR).List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) {
		if e.Config.Enabled("kserve") {
			return nil, errors.New("the InferenceService API is not installed")
		}
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list InferenceServices: %w", err)
	}
	var out []Finding
	for _, isvc := range list.Items {
		if f, ok := notReady(&isvc); ok {
			out = append(out, f)
		}
	}
	return out, nil
}

// notReady returns a finding for an InferenceService whose Ready
// condition is not True, with the reason and every condition that is not
// True as evidence.
func notReady(isvc *unstructured.Unstructured) (Finding, bool) {
	conds, _, _ := unstructured.NestedSlice(isvc.Object, "status", "conditions")
	var readyStatus, reason, message string
	var failing []string
	for _, c := range conds {
		m, _ := c.(map[string]any)
		typ, _ := m["type"].(string)
		status, _ := m["status"].(string)
		r, _ := m["reason"].(string)
		msg, _ := m["message"].(string)
		if typ == "Ready" {
			readyStatus, reason, message = status, r, msg
			continue
		}
		if status != "True" {
			failing = append(failing, strings.TrimSpace(fmt.Sprintf("%s=%s %s %s", typ, status, r, msg)))
		}
	}
	if readyStatus == "True" {
		return Finding{}, false
	}
	if readyStatus == "" {
		readyStatus, reason = "Unknown", "no Ready condition yet"
	}
	ev := fmt.Sprintf("Ready=%s reason=%s", readyStatus, reason)
	if message != "" {
		ev += " message=" + message
	}
	if len(failing) > 0 {
		ev += "; " + firstN(failing, "; ")
	}
	return Finding{
		ID:       IDInferenceServiceNotRdy,
		Object:   object("InferenceService", isvc.GetNamespace(), isvc.GetName()),
		Message:  fmt.Sprintf("the InferenceService is not Ready (%s): it serves no predictions", reason),
		Fix:      fmt.Sprintf("kubectl -n %s describe inferenceservice %s; an IngressReady problem is usually Knative without Kourier as ingress class (see knative-ingress-class), a PredictorReady one the model pod", isvc.GetNamespace(), isvc.GetName()),
		Evidence: ev,
	}, true
}

// checkKnativeIngress checks that Knative's config-network routes through
// Kourier; without it no InferenceService becomes Ready.
func checkKnativeIngress(ctx context.Context, e *env) ([]Finding, error) {
	ns := e.Names.KnativeNamespace
	cm, err := e.Kube.CoreV1().ConfigMaps(ns).Get(ctx, knativeNetworkConfigMap, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		if e.Config.Enabled("knative-serving") {
			return nil, fmt.Errorf("configmap %s/%s not found: Knative Serving is not installed", ns, knativeNetworkConfigMap)
		}
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get configmap %s/%s: %w", ns, knativeNetworkConfigMap, err)
	}
	class, key := ingressClass(cm)
	if class == content.KourierIngressClass {
		return nil, nil
	}
	ev := "ingress-class is not set"
	if key != "" {
		ev = fmt.Sprintf("%s is %q", key, class)
	}
	return []Finding{{
		ID:       IDKnativeIngressClass,
		Object:   object("ConfigMap", ns, knativeNetworkConfigMap),
		Message:  "Knative Serving does not use Kourier as its ingress: routes are never programmed and Knative Services and InferenceServices never become Ready (their IngressReady stays Unknown, reason IngressNotConfigured, as no ingress controller takes the KIngress)",
		Fix:      fmt.Sprintf("neuroscale up --reapply puts Kourier's back (the knative-serving component renders it; a plain up only checks an unchanged component's health); by hand: kubectl -n %s patch configmap %s --type merge -p '{\"data\":{\"ingress-class\":\"%s\"}}'", ns, knativeNetworkConfigMap, content.KourierIngressClass),
		Evidence: ev + ", want " + content.KourierIngressClass,
	}}, nil
}

// ingressClass reads Knative's ingress class, under the current key or
// the one older releases used.
func ingressClass(cm *corev1.ConfigMap) (class, key string) {
	for _, k := range []string{"ingress-class", "ingress.class"} {
		if v, ok := cm.Data[k]; ok {
			return strings.TrimSpace(v), k
		}
	}
	return "", ""
}

// helmRelease is one revision of a Helm release, from the labels of its
// storage Secret (sh.helm.release.v1.NAME.vN).
type helmRelease struct {
	namespace, name, status string
	version                 int
	since                   time.Time
}

// checkHelmReleases finds releases whose latest revision is pending
// (pending-install, pending-upgrade, pending-rollback) for longer than
// PendingAfter: an interrupted helm operation, after which every upgrade
// fails with "another operation (install/upgrade/rollback) is in progress".
// Only the Secrets' metadata is read, never the release data.
func checkHelmReleases(ctx context.Context, e *env) ([]Finding, error) {
	list, err := e.Metadata.Resource(schema.GroupVersionResource{Version: "v1", Resource: "secrets"}).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm"})
	if err != nil {
		return nil, fmt.Errorf("list helm release secrets: %w", err)
	}
	latest := map[string]helmRelease{}
	for _, s := range list.Items {
		v, err := strconv.Atoi(s.Labels["version"])
		if err != nil || s.Labels["name"] == "" {
			continue
		}
		r := helmRelease{namespace: s.Namespace, name: s.Labels["name"], status: s.Labels["status"], version: v, since: s.CreationTimestamp.Time}
		if sec, err := strconv.ParseInt(s.Labels["modifiedAt"], 10, 64); err == nil && time.Unix(sec, 0).After(r.since) {
			r.since = time.Unix(sec, 0)
		}
		key := r.namespace + "/" + r.name
		if cur, ok := latest[key]; !ok || r.version > cur.version {
			latest[key] = r
		}
	}
	now := e.Now()
	var out []Finding
	for _, key := range sortedKeys(latest) {
		r := latest[key]
		if !strings.HasPrefix(r.status, "pending-") {
			continue
		}
		age := now.Sub(r.since)
		if age < e.PendingAfter {
			continue
		}
		fix := fmt.Sprintf("helm -n %s rollback %s (back to the last deployed revision), then neuroscale up", r.namespace, r.name)
		if r.status == "pending-install" {
			fix = fmt.Sprintf("helm -n %s uninstall %s (the install never finished), then neuroscale up", r.namespace, r.name)
		}
		out = append(out, Finding{
			ID:       IDHelmReleasePending,
			Object:   "helm release " + key,
			Message:  fmt.Sprintf("revision %d is %s for %s: the helm operation was interrupted, and every later upgrade fails with \"another operation (install/upgrade/rollback) is in progress\"", r.version, r.status, age.Round(time.Second)),
			Fix:      fix,
			Evidence: fmt.Sprintf("Secret %s/sh.helm.release.v1.%s.v%d has label status=%s since %s", r.namespace, r.name, r.version, r.status, r.since.UTC().Format(time.RFC3339)),
		})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Object < out[j].Object })
	return out, nil
}
