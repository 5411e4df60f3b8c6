package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// webhook is one admission webhook entry of a configuration.
type webhook struct {
	// Kind is ValidatingWebhookConfiguration or MutatingWebhookConfiguration.
	Kind          string
	Configuration string
	Name          string
	// Service and Namespace are empty for URL webhooks.
	Service   string
	Namespace string
	Rules     []admissionv1.RuleWithOperations
	NSSel     *metav1.LabelSelector
	ObjSel    *metav1.LabelSelector
	// Fail is true when the API server rejects requests it cannot get an
	// answer for (failurePolicy Fail, the default).
	Fail bool
}

func (w webhook) id() string { return w.Kind + "/" + w.Configuration + "/" + w.Name }

// webhooksFor lists the admission webhooks that a step registered: those
// in the named configurations, and any whose Service lives in one of
// namespaces. The second catches webhooks a controller registers itself
// at runtime (Kyverno does), which no rendered object names.
func (e *Engine) webhooksFor(ctx context.Context, namespaces, configs map[string]bool) ([]webhook, error) {
	var out []webhook
	vs, err := e.kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list validating webhook configurations: %w", err)
	}
	for _, c := range vs.Items {
		for _, w := range c.Webhooks {
			out = appendWebhook(out, "ValidatingWebhookConfiguration", c.Name, w.Name, w.ClientConfig, w.Rules, w.NamespaceSelector, w.ObjectSelector, w.FailurePolicy, namespaces, configs)
		}
	}
	ms, err := e.kube.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list mutating webhook configurations: %w", err)
	}
	for _, c := range ms.Items {
		for _, w := range c.Webhooks {
			out = appendWebhook(out, "MutatingWebhookConfiguration", c.Name, w.Name, w.ClientConfig, w.Rules, w.NamespaceSelector, w.ObjectSelector, w.FailurePolicy, namespaces, configs)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id() < out[j].id() })
	return out, nil
}

func appendWebhook(out []webhook, kind, cfg, name string, cc admissionv1.WebhookClientConfig, rules []admissionv1.RuleWithOperations,
	nsSel, objSel *metav1.LabelSelector, fp *admissionv1.FailurePolicyType, namespaces, configs map[string]bool) []webhook {
	w := webhook{Kind: kind, Configuration: cfg, Name: name, Rules: rules, NSSel: nsSel, ObjSel: objSel, Fail: fp == nil || *fp == admissionv1.Fail}
	if cc.Service != nil {
		w.Service, w.Namespace = cc.Service.Name, cc.Service.Namespace
	}
	if configs[cfg] || (w.Service != "" && namespaces[w.Namespace]) {
		out = append(out, w)
	}
	return out
}

// waitWebhooks waits until every webhook works: its Service has a ready
// endpoint, and a server-side dry-run create of a sample object it
// intercepts gets an answer. A webhook with endpoints can still be
// unreachable (a wrong port, a certificate the API server rejects, the
// seed's kube-rbac-proxy answering 403), and only a request through the
// API server shows that, as cert-manager's own docs check.
func (e *Engine) waitWebhooks(ctx context.Context, hooks []webhook, budget time.Duration) error {
	if len(hooks) == 0 {
		return nil
	}
	pending := hooks
	reasons := map[string]string{}
	err := e.poll(ctx, budget, e.opts.MaxPoll, func(ctx context.Context) (bool, error) {
		var still []webhook
		for _, w := range pending {
			reason, err := e.checkWebhook(ctx, w)
			if err != nil {
				if ctx.Err() != nil {
					return false, ctx.Err()
				}
				reason = err.Error()
			}
			if reason != "" {
				reasons[w.id()] = reason
				still = append(still, w)
			}
		}
		pending = still
		if len(pending) > 0 {
			e.log.Debug("waiting for admission webhooks", "pending", len(pending), "first", pending[0].Name, "reason", reasons[pending[0].id()])
		}
		return len(pending) == 0, nil
	})
	if !errors.Is(err, errBudget) {
		return err
	}
	w := pending[0]
	reason := reasons[w.id()]
	if len(pending) > 1 {
		var others []string
		for _, o := range pending[1:] {
			others = append(others, o.Name)
		}
		reason += fmt.Sprintf(" (also not working: %s)", strings.Join(others, ", "))
	}
	return &WebhookError{Configuration: w.Configuration, Webhook: w.Name, Service: w.Service, Namespace: w.Namespace, Reason: reason, Budget: budget}
}

// checkWebhookEndpoints returns "" when w's Service has a ready endpoint,
// or why not.
func (e *Engine) checkWebhookEndpoints(ctx context.Context, w webhook) (string, error) {
	if _, err := e.kube.CoreV1().Services(w.Namespace).Get(ctx, w.Service, metav1.GetOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Sprintf("service %s in namespace %s does not exist", w.Service, w.Namespace), nil
		}
		return "", fmt.Errorf("read service %s/%s: %w", w.Namespace, w.Service, err)
	}
	slices, err := e.kube.DiscoveryV1().EndpointSlices(w.Namespace).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + w.Service})
	if err != nil {
		return "", fmt.Errorf("list endpoint slices of %s/%s: %w", w.Namespace, w.Service, err)
	}
	if readyEndpoints(slices.Items) == 0 {
		return fmt.Sprintf("service %s in namespace %s has no ready endpoints", w.Service, w.Namespace), nil
	}
	return "", nil
}

// checkWebhook returns "" when w works, or why it does not.
func (e *Engine) checkWebhook(ctx context.Context, w webhook) (string, error) {
	if w.Service != "" {
		if why, err := e.checkWebhookEndpoints(ctx, w); why != "" || err != nil {
			return why, err
		}
	}
	if !w.Fail {
		// With failurePolicy Ignore a broken webhook blocks nothing, and a
		// dry-run would pass whether it answers or not.
		return "", nil
	}
	sample, gvr, ns, ok, err := e.sampleFor(ctx, w)
	if err != nil || !ok {
		if !ok && err == nil {
			e.log.Debug("no sample object for webhook; checked its endpoints only", "webhook", w.id())
		}
		return "", err
	}
	obj := sample.DeepCopy()
	_, err = e.dyn.Resource(gvr).Namespace(ns).Create(ctx, obj, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldManager: FieldManager})
	return dryRunVerdict(sample, err), nil
}

// dryRunVerdict reads the answer to a sample dry-run: "" when a webhook
// answered (even "denied": it works), the reason when none could.
func dryRunVerdict(sample *unstructured.Unstructured, err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "failed calling webhook"),
		apierrors.IsInternalError(err) && strings.Contains(msg, "webhook"),
		apierrors.IsTimeout(err), apierrors.IsServerTimeout(err):
		return fmt.Sprintf("a dry-run create of a %s got no answer: %s", sample.GetKind(), msg)
	}
	// Denied, invalid, forbidden: the API server got an answer, or failed
	// before calling any webhook; either way this webhook is not blocking.
	return ""
}

// readyEndpoints counts endpoints that serve (ready unset means ready).
func readyEndpoints(slices []discoveryv1.EndpointSlice) int {
	n := 0
	for _, s := range slices {
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
				n++
			}
		}
	}
	return n
}

// sampleFor picks the first sample w would intercept on CREATE.
func (e *Engine) sampleFor(ctx context.Context, w webhook) (*unstructured.Unstructured, schema.GroupVersionResource, string, bool, error) {
	for _, s := range e.opts.Samples {
		m, ok, err := e.mapping(s.GroupVersionKind())
		if err != nil {
			return nil, schema.GroupVersionResource{}, "", false, err
		}
		if !ok {
			continue
		}
		namespaced := m.Scope.Name() == meta.RESTScopeNameNamespace
		if !rulesMatch(w.Rules, m.Resource, namespaced) || !labelsMatch(w.ObjSel, s.GetLabels()) {
			continue
		}
		ns := ""
		if namespaced {
			ns = s.GetNamespace()
			if ns == "" {
				ns = e.store.Namespace()
			}
			if w.NSSel != nil {
				nsObj, err := e.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
				if err != nil {
					if apierrors.IsNotFound(err) {
						continue
					}
					return nil, schema.GroupVersionResource{}, "", false, fmt.Errorf("read namespace %s: %w", ns, err)
				}
				if !labelsMatch(w.NSSel, nsObj.Labels) {
					continue
				}
			}
		}
		return s, m.Resource, ns, true, nil
	}
	return nil, schema.GroupVersionResource{}, "", false, nil
}

// rulesMatch reports whether any rule intercepts CREATE of gvr.
func rulesMatch(rules []admissionv1.RuleWithOperations, gvr schema.GroupVersionResource, namespaced bool) bool {
	for _, r := range rules {
		if !anyOf(opStrings(r.Operations), "CREATE") || !anyOf(r.APIGroups, gvr.Group) || !anyOf(r.APIVersions, gvr.Version) {
			continue
		}
		res := false
		for _, x := range r.Resources {
			if x == "*" || x == "*/*" || x == gvr.Resource {
				res = true
			}
		}
		if !res {
			continue
		}
		if r.Scope != nil {
			switch *r.Scope {
			case admissionv1.NamespacedScope:
				if !namespaced {
					continue
				}
			case admissionv1.ClusterScope:
				if namespaced {
					continue
				}
			}
		}
		return true
	}
	return false
}

func opStrings(ops []admissionv1.OperationType) []string {
	out := make([]string, len(ops))
	for i, o := range ops {
		out[i] = string(o)
	}
	return out
}

func anyOf(list []string, want string) bool {
	for _, x := range list {
		if x == "*" || x == want {
			return true
		}
	}
	return false
}
