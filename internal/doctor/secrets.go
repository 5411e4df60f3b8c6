package doctor

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/neuroscale-dev/neuroscale/internal/secrets"
	"github.com/neuroscale-dev/neuroscale/internal/verify"
)

// checkSecrets looks at the Secret Backstage reads: values that are empty
// or fail the checks neuroscale applies before storing one (placeholders
// such as <YOUR_TOKEN_HERE>, wrong shapes), judged by length and pattern
// only; and consumers whose pods started before the Secret last changed,
// since environment variables are read at container start.
func checkSecrets(ctx context.Context, e *env) ([]Finding, error) {
	n := e.Names
	sec, err := e.Kube.CoreV1().Secrets(n.BackstageNamespace).Get(ctx, n.BackstageSecret, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return e.missingSecret(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("get secret %s/%s: %w", n.BackstageNamespace, n.BackstageSecret, err)
	}
	out := valueFindings(e, sec)
	stale, err := e.staleConsumers(ctx, sec)
	return append(out, stale...), err
}

// missingSecret reports a missing Secret only when the profile requires
// one of its values.
func (e *env) missingSecret() []Finding {
	var required []string
	for _, s := range e.Config.Secrets {
		if s.Require.Required {
			required = append(required, s.Name)
		}
	}
	if len(required) == 0 {
		return nil
	}
	return []Finding{{
		ID:      IDSecretEmpty,
		Object:  object("Secret", e.Names.BackstageNamespace, e.Names.BackstageSecret),
		Message: "the Secret does not exist, and the " + e.Config.Profile + " profile requires " + strings.Join(required, ", "),
		Fix:     "store the values with neuroscale secret set NAME (reads standard input) or neuroscale up with them in the environment",
	}}
}

// valueFindings checks every key of sec, and the required keys it lacks.
func valueFindings(e *env, sec *corev1.Secret) []Finding {
	kinds := map[string]string{}
	why := map[string]string{}
	var out []Finding
	obj := object("Secret", sec.Namespace, sec.Name)
	for _, s := range e.Config.Secrets {
		kinds[s.Name] = s.Source.Kind
		why[s.Name] = s.Require.Why
		if _, ok := sec.Data[s.Name]; !ok && s.Require.Required {
			out = append(out, Finding{
				ID: IDSecretEmpty, Object: obj,
				Message:  fmt.Sprintf("%s is not in the Secret (length 0); %s", s.Name, s.Require.Why),
				Fix:      "neuroscale secret set " + s.Name + " (reads standard input), then the consumers restart with it",
				Evidence: "keys present: " + strings.Join(sortedKeys(sec.Data), ", "),
			})
		}
	}
	for _, key := range sortedKeys(sec.Data) {
		v := secrets.NewValue(sec.Data[key])
		kind := kinds[key]
		if kind == "" {
			kind = secrets.KindOpaque
		}
		reasons := secrets.Check(kind, v)
		if len(reasons) == 0 {
			continue
		}
		f := Finding{
			Object:   obj,
			Fix:      "neuroscale secret set " + key + " (reads standard input; the value is checked before it is stored), then the consumers restart with it",
			Evidence: fmt.Sprintf("%s: length %d, kind %s: %s", key, v.Len(), kind, strings.Join(reasons, "; ")),
		}
		if strings.TrimSpace(string(v.Reveal())) == "" {
			f.ID, f.Message = IDSecretEmpty, key+" is empty"
		} else {
			f.ID, f.Message = IDSecretInvalid, key+" holds a value that cannot be the real one"
		}
		if w := why[key]; w != "" {
			f.Message += "; " + w
		}
		out = append(out, f)
	}
	return out
}

// staleConsumers finds pods of the Secret's consumers that run with an
// older value: their checksum annotation differs from the Secret's current
// checksum or, without the annotation, they started before the Secret was
// last written.
func (e *env) staleConsumers(ctx context.Context, sec *corev1.Secret) ([]Finding, error) {
	written := lastWrite(sec.ObjectMeta)
	var out []Finding
	for _, consumer := range e.consumers() {
		ns, name, ok := strings.Cut(consumer, "/")
		if !ok {
			continue
		}
		pods, err := verify.DeploymentPods(ctx, e.Kube, ns, name)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return out, err
		}
		sum := secrets.Checksum(e.readerSet(sec), consumer)
		var stale []string
		for _, p := range pods {
			if have, ok := p.Annotations[secrets.ChecksumAnnotation]; ok {
				if have != sum {
					stale = append(stale, fmt.Sprintf("pod %s carries the checksum of an older value (%s)", p.Name, secrets.ChecksumAnnotation))
				}
				continue
			}
			started := podStart(p)
			if !started.IsZero() && written.After(started) {
				stale = append(stale, fmt.Sprintf("pod %s started %s, the Secret was last written %s",
					p.Name, started.UTC().Format(time.RFC3339), written.UTC().Format(time.RFC3339)))
			}
		}
		if len(stale) == 0 {
			continue
		}
		out = append(out, Finding{
			ID:       IDSecretNewerThanPods,
			Object:   object("Deployment", ns, name),
			Message:  fmt.Sprintf("Secret %s/%s changed after these pods started: they still run with the old value (environment variables are read at container start)", sec.Namespace, sec.Name),
			Fix:      fmt.Sprintf("kubectl -n %s rollout restart deployment/%s (neuroscale secret set does this for you)", ns, name),
			Evidence: firstN(stale, "; "),
		})
	}
	return out, nil
}

// consumers are the Deployments that read the Secret: those the
// configuration names, or Backstage's.
func (e *env) consumers() []string {
	set := map[string]bool{}
	for _, s := range e.Config.Secrets {
		for _, c := range s.Require.Consumers {
			set[c] = true
		}
	}
	if len(set) == 0 {
		set[e.Names.BackstageNamespace+"/"+e.Names.BackstageDeployment] = true
	}
	out := make([]string, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// readerSet is the Secret as the set secret set and up compute checksum
// annotations over: a key the configuration declares is read by its
// configured consumers, any other key by every consumer (the chart reads
// the Secret whole).
func (e *env) readerSet(sec *corev1.Secret) *secrets.Set {
	declared := map[string][]string{}
	for _, s := range e.Config.Secrets {
		if len(s.Require.Consumers) > 0 {
			declared[s.Name] = s.Require.Consumers
		}
	}
	all := e.consumers()
	set := &secrets.Set{}
	for _, k := range sortedKeys(sec.Data) {
		readers, ok := declared[k]
		if !ok {
			readers = all
		}
		set.Entries = append(set.Entries, secrets.Entry{Name: k, Value: secrets.NewValue(sec.Data[k]), Consumers: readers})
	}
	return set
}

// lastWrite is the latest time any manager wrote the object, or its
// creation.
func lastWrite(m metav1.ObjectMeta) time.Time {
	t := m.CreationTimestamp.Time
	for _, mf := range m.ManagedFields {
		if mf.Time != nil && mf.Time.After(t) {
			t = mf.Time.Time
		}
	}
	return t
}

// podStart is when the pod's containers last started: the latest running
// container's start, else the pod's start.
func podStart(p corev1.Pod) time.Time {
	var t time.Time
	for _, cs := range p.Status.ContainerStatuses {
		if r := cs.State.Running; r != nil && r.StartedAt.After(t) {
			t = r.StartedAt.Time
		}
	}
	if t.IsZero() && p.Status.StartTime != nil {
		t = p.Status.StartTime.Time
	}
	return t
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
