package secrets

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// FieldManager owns the Secret: neuroscale applies it whole every time.
const FieldManager = "neuroscale"

// RolloutFieldManager owns only the checksum annotation secret set writes
// into a consumer's pod template. It is not FieldManager on purpose: a
// server-side apply replaces everything its manager owned with what it
// sends, so applying the one annotation as "neuroscale" would drop every
// other field the engine's own "neuroscale" apply of that object owns.
const RolloutFieldManager = "neuroscale-secrets"

// managedByLabel marks objects neuroscale creates itself.
const managedByLabel = "app.kubernetes.io/managed-by"

// Applied is the outcome of Apply.
type Applied struct {
	// Set is what the Secret holds now: the applied entries and the keys
	// kept from the cluster (origin cluster), whose consumers are all the
	// Secret's readers. Checksums must be computed from this Set.
	Set *Set
	// Kept lists the keys the Secret held that the applied set did not set.
	Kept []string
	// Changed is false when the Secret was already exactly this.
	Changed bool
	// Created is true when the Secret did not exist before.
	Created bool
}

// Stored returns the keys the target Secret holds, or nil when it (or its
// namespace) does not exist: Resolve's Options.Stored.
func Stored(ctx context.Context, cfg *rest.Config, target Target) ([]string, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", cfg.Host, err)
	}
	s, err := cs.CoreV1().Secrets(target.Namespace).Get(ctx, target.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read Secret %s: %w", target, err)
	}
	keys := make([]string, 0, len(s.Data))
	for k := range s.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys, nil
}

// Apply server-side applies set into its target Secret, keeping the keys
// the Secret already holds that set does not name (a token stored with
// `secret set` survives an `up` without the variable). The namespace is
// created when missing, and the Secret is applied even when empty: the
// consumers read it with envFrom, and a missing Secret stops their
// containers from starting.
func Apply(ctx context.Context, cfg *rest.Config, set *Set) (*Applied, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", cfg.Host, err)
	}
	t := set.Target
	if err := ensureNamespace(ctx, cs, t.Namespace); err != nil {
		return nil, err
	}
	before, err := getSecret(ctx, cs, t)
	if err != nil {
		return nil, err
	}
	merged, kept := merge(set, before)
	out := &Applied{Set: merged, Kept: kept, Created: before == nil}

	data := make(map[string][]byte, len(merged.Entries))
	for _, e := range merged.Entries {
		data[e.Name] = e.Value.Reveal()
	}
	ac := corev1ac.Secret(t.Name, t.Namespace).
		WithLabels(map[string]string{managedByLabel: "neuroscale"}).
		WithType(corev1.SecretTypeOpaque).
		WithData(data)
	// Force: the Secret may have been made by hand (kubectl create
	// secret, as the seed did); neuroscale takes its keys over.
	after, err := cs.CoreV1().Secrets(t.Namespace).Apply(ctx, ac, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
	if err != nil {
		return nil, fmt.Errorf("apply Secret %s: %w", t, scrubError(merged, err))
	}
	out.Changed = before == nil || before.ResourceVersion != after.ResourceVersion
	return out, nil
}

// Merge returns set with the keys the cluster Secret already holds and set
// does not name added (origin cluster), without changing anything: what
// the Secret will hold after Apply. Its Checksums are what render must put
// into the consumers' pod templates during `up`, before Apply runs.
func Merge(ctx context.Context, cfg *rest.Config, set *Set) (*Set, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", cfg.Host, err)
	}
	before, err := getSecret(ctx, cs, set.Target)
	if err != nil {
		return nil, err
	}
	merged, _ := merge(set, before)
	return merged, nil
}

// getSecret returns the target Secret, or nil when it does not exist.
func getSecret(ctx context.Context, cs kubernetes.Interface, t Target) (*corev1.Secret, error) {
	s, err := cs.CoreV1().Secrets(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read Secret %s: %w", t, err)
	}
	return s, nil
}

// merge adds before's keys that set does not name to a copy of set. Kept
// keys are read by every reader of the Secret (envFrom reads it whole).
func merge(set *Set, before *corev1.Secret) (*Set, []string) {
	merged := &Set{Target: set.Target, Readers: slices.Clone(set.Readers), Entries: slices.Clone(set.Entries)}
	if before == nil {
		return merged, nil
	}
	readers := set.Readers
	if len(readers) == 0 {
		readers = set.Consumers()
	}
	var kept []string
	for k, v := range before.Data {
		if _, ok := set.Get(k); ok {
			continue
		}
		merged.put(Entry{Name: k, Origin: Origin{Kind: OriginCluster, Ref: set.Target.String()}, Value: NewValue(v), Consumers: slices.Clone(readers)})
		kept = append(kept, k)
	}
	sort.Strings(kept)
	return merged, kept
}

// Remove deletes the target Secret, for `down`: the Secret is neuroscale's
// own object, not part of any rendered component, so no record lists it.
// A missing Secret is no error.
func Remove(ctx context.Context, cfg *rest.Config, target Target) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("client for %s: %w", cfg.Host, err)
	}
	err = cs.CoreV1().Secrets(target.Namespace).Delete(ctx, target.Name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete Secret %s: %w", target, err)
	}
	return nil
}

func ensureNamespace(ctx context.Context, cs kubernetes.Interface, name string) error {
	_, err := cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("read namespace %s: %w", name, err)
	}
	ac := corev1ac.Namespace(name).WithLabels(map[string]string{managedByLabel: "neuroscale"})
	if _, err := cs.CoreV1().Namespaces().Apply(ctx, ac, metav1.ApplyOptions{FieldManager: FieldManager}); err != nil {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}

// RollAction says what Roll did to one consumer.
type RollAction string

// Roll actions.
const (
	// Rolled: the checksum annotation changed, so the pods are replaced.
	Rolled RollAction = "rolled"
	// Unchanged: the annotation already had this checksum.
	Unchanged RollAction = "unchanged"
	// NotInstalled: the Deployment does not exist yet; `up` renders the
	// annotation when it creates it.
	NotInstalled RollAction = "not-installed"
)

// Rollout is what Roll did to one consumer.
type Rollout struct {
	Consumer string     `json:"consumer"`
	Action   RollAction `json:"action"`
}

// Roll sets every consumer's checksum annotation (pod template of its
// Deployment) to Checksum(set, consumer), which makes the Deployment
// replace its pods when the value changed, and touches nothing when it did
// not. set must be Applied.Set so the checksum covers every key the
// consumer reads. Consumers are "namespace/name" of Deployments.
func Roll(ctx context.Context, cfg *rest.Config, set *Set) ([]Rollout, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", cfg.Host, err)
	}
	var out []Rollout
	consumers := set.Consumers()
	for _, r := range set.Readers {
		if !slices.Contains(consumers, r) {
			consumers = append(consumers, r)
		}
	}
	sort.Strings(consumers)
	for _, consumer := range consumers {
		ns, name, err := splitConsumer(consumer)
		if err != nil {
			return out, err
		}
		want := Checksum(set, consumer)
		if want == "" {
			// It reads none of the keys: nothing to roll it for.
			out = append(out, Rollout{Consumer: consumer, Action: Unchanged})
			continue
		}
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			out = append(out, Rollout{Consumer: consumer, Action: NotInstalled})
			continue
		}
		if err != nil {
			return out, fmt.Errorf("read Deployment %s: %w", consumer, err)
		}
		if d.Spec.Template.Annotations[ChecksumAnnotation] == want {
			out = append(out, Rollout{Consumer: consumer, Action: Unchanged})
			continue
		}
		ac := appsv1ac.Deployment(name, ns).WithSpec(appsv1ac.DeploymentSpec().
			WithTemplate(corev1ac.PodTemplateSpec().WithAnnotations(map[string]string{ChecksumAnnotation: want})))
		// Force: Helm (or the engine) may own the annotation from an
		// earlier render; this apply is what makes the new value reach
		// the pods, and the next render carries the same checksum.
		if _, err := cs.AppsV1().Deployments(ns).Apply(ctx, ac, metav1.ApplyOptions{FieldManager: RolloutFieldManager, Force: true}); err != nil {
			return out, fmt.Errorf("roll Deployment %s: %w", consumer, err)
		}
		out = append(out, Rollout{Consumer: consumer, Action: Rolled})
	}
	return out, nil
}

func splitConsumer(c string) (ns, name string, err error) {
	ns, name, ok := strings.Cut(c, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("consumer %q is not namespace/name", c)
	}
	return ns, name, nil
}
