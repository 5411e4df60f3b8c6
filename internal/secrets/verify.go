package secrets

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/streaming/pkg/httpstream"
)

// LengthCheck is the result of checking one variable in one container.
// It holds lengths only.
type LengthCheck struct {
	Pod       string `json:"pod"`
	Container string `json:"container"`
	// Variable is the environment variable; Secret the key it comes from.
	Variable string `json:"variable"`
	Secret   string `json:"secret"`
	// Present says the variable is set in the container.
	Present bool `json:"present"`
	// Want is the stored value's length, Got what the container has.
	Want int  `json:"want"`
	Got  int  `json:"got"`
	OK   bool `json:"ok"`
}

// String describes the check, lengths only.
func (c LengthCheck) String() string {
	where := c.Pod + "/" + c.Container
	switch {
	case !c.Present:
		return fmt.Sprintf("%s: %s is not set (want %d characters)", where, c.Variable, c.Want)
	case !c.OK:
		return fmt.Sprintf("%s: %s has %d characters, the Secret's %s has %d", where, c.Variable, c.Got, c.Secret, c.Want)
	}
	return fmt.Sprintf("%s: %s has the expected %d characters", where, c.Variable, c.Got)
}

// Verification is what VerifyInContainer found in every running pod of a
// consumer.
type Verification struct {
	Consumer string        `json:"consumer"`
	Checks   []LengthCheck `json:"checks"`
}

// VerifyError says a running container does not see the stored value.
type VerifyError struct {
	Consumer string
	Failed   []LengthCheck
}

// Error lists the failed checks (lengths only).
func (e *VerifyError) Error() string {
	parts := make([]string, len(e.Failed))
	for i, c := range e.Failed {
		parts[i] = c.String()
	}
	return fmt.Sprintf("%s does not see the stored secrets: %s", e.Consumer, strings.Join(parts, "; "))
}

// Hint says why a pod usually has an old or no value.
func (e *VerifyError) Hint() string {
	return "environment variables are read when a container starts: a pod that started before the Secret changed keeps the old value. " +
		"`neuroscale secret set NAME` rolls the consumers; `kubectl -n NAMESPACE rollout restart deployment NAME` does it by hand"
}

// ExecError is a length check that could not run in a container: it
// proves nothing either way about the value.
type ExecError struct {
	Pod, Container string
	// Stderr is the container's error output, scrubbed of values.
	Stderr string
	Err    error
}

// Error implements error.
func (e *ExecError) Error() string {
	s := "exec into " + e.Pod + "/" + e.Container
	if e.Stderr != "" {
		s += " (stderr: " + e.Stderr + ")"
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the exec error.
func (e *ExecError) Unwrap() error { return e.Err }

// Hint says what the check needs.
func (e *ExecError) Hint() string {
	return "the check runs sh in the container through the API server (kubectl exec): it needs a shell in the image and the right to create pods/exec; `kubectl -n NAMESPACE exec POD -- sh -c 'echo ${#GITHUB_TOKEN}'` is the same check by hand"
}

// isEnvName reports whether s is a name sh can expand as ${#s}.
func isEnvName(s string) bool {
	if s == "" || isDigit(s[0]) {
		return false
	}
	return indexNotIn([]byte(s), isAlnumUnderscore) < 0
}

// VerifyInContainer execs into every running, ready pod of consumer's
// current template and checks that each variable it takes from set's
// Secret is set with the stored value's length, as the seed's runbook did
// with `echo ${#GITHUB_TOKEN}`. The command prints only lengths, so
// nothing of a value crosses the wire back. It returns a *VerifyError when
// a length differs or a variable is missing.
func VerifyInContainer(ctx context.Context, cfg *rest.Config, set *Set, consumer string) (*Verification, error) {
	ns, name, err := splitConsumer(consumer)
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", cfg.Host, err)
	}
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("read Deployment %s: %w", consumer, err)
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("selector of Deployment %s: %w", consumer, err)
	}
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("list pods of %s: %w", consumer, err)
	}
	wantSum := d.Spec.Template.Annotations[ChecksumAnnotation]
	v := &Verification{Consumer: consumer}
	var failed []LengthCheck
	checked := 0
	for i := range pods.Items {
		p := &pods.Items[i]
		// Only pods of the current template count: during a rollout the
		// old pods still run with the old value.
		if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning || !podReady(p) ||
			p.Annotations[ChecksumAnnotation] != wantSum {
			continue
		}
		for _, c := range p.Spec.Containers {
			vars := secretVariables(c, set)
			if len(vars) == 0 {
				continue
			}
			checks, err := execLengths(ctx, cfg, cs, p, c.Name, vars, set)
			if err != nil {
				return nil, err
			}
			for _, ch := range checks {
				v.Checks = append(v.Checks, ch)
				if !ch.OK {
					failed = append(failed, ch)
				}
			}
			checked++
		}
	}
	if checked == 0 {
		return v, fmt.Errorf("no running, ready container of %s reads Secret %s: %w", consumer, set.Target, ErrNothingToVerify)
	}
	if len(failed) > 0 {
		return v, &VerifyError{Consumer: consumer, Failed: failed}
	}
	return v, nil
}

// ErrNothingToVerify is wrapped when no running container of the consumer
// reads the Secret: not installed yet, not ready, or not wired to it.
var ErrNothingToVerify = errors.New("nothing to verify")

// variable is one environment variable a container takes from the Secret.
type variable struct {
	env, key string
}

// secretVariables lists the variables container c takes from set's
// Secret: every key through envFrom (with its prefix), and single keys
// through env[].valueFrom.secretKeyRef. Keys that are not shell names
// cannot be measured with ${#NAME} and are left out.
func secretVariables(c corev1.Container, set *Set) []variable {
	byEnv := map[string]string{}
	for _, ef := range c.EnvFrom {
		if ef.SecretRef == nil || ef.SecretRef.Name != set.Target.Name {
			continue
		}
		for _, e := range set.Entries {
			byEnv[ef.Prefix+e.Name] = e.Name
		}
	}
	// env overrides envFrom for the same name, as in the kubelet.
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name == set.Target.Name {
			if _, ok := set.Get(e.ValueFrom.SecretKeyRef.Key); ok {
				byEnv[e.Name] = e.ValueFrom.SecretKeyRef.Key
				continue
			}
		}
		delete(byEnv, e.Name)
	}
	out := make([]variable, 0, len(byEnv))
	for env, key := range byEnv {
		if isEnvName(env) {
			out = append(out, variable{env: env, key: key})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].env < out[j].env })
	return out
}

// lengthScript prints "NAME:1:LEN" per variable, or "NAME::0" when it is
// unset. Names are checked against envName, so nothing is injected.
func lengthScript(vars []variable) string {
	var b strings.Builder
	for _, v := range vars {
		fmt.Fprintf(&b, "printf '%%s:%%s:%%s\\n' %s \"${%s+1}\" \"${#%s}\"\n", v.env, v.env, v.env)
	}
	return b.String()
}

func execLengths(ctx context.Context, cfg *rest.Config, cs kubernetes.Interface, p *corev1.Pod, container string, vars []variable, set *Set) ([]LengthCheck, error) {
	req := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(p.Namespace).Name(p.Name).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: container,
			Command:   []string{"sh", "-c", lengthScript(vars)},
			Stdout:    true,
			Stderr:    true,
		}, scheme.ParameterCodec)
	exec, err := newExecutor(cfg, req)
	if err != nil {
		return nil, fmt.Errorf("exec into %s/%s: %w", p.Name, container, err)
	}
	var stdout, stderr bytes.Buffer
	if err := exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr}); err != nil {
		msg := strings.TrimSpace(scrub(set, stderr.String()))
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
		return nil, &ExecError{Pod: p.Name, Container: container, Stderr: msg, Err: scrubError(set, err)}
	}
	got, err := parseLengths(stdout.Bytes())
	if err != nil {
		return nil, fmt.Errorf("exec into %s/%s: %w", p.Name, container, err)
	}
	out := make([]LengthCheck, 0, len(vars))
	for _, v := range vars {
		e, _ := set.Get(v.key)
		g, ok := got[v.env]
		if !ok {
			return nil, fmt.Errorf("exec into %s/%s: no length reported for %s", p.Name, container, v.env)
		}
		ch := LengthCheck{Pod: p.Name, Container: container, Variable: v.env, Secret: v.key, Present: g.set, Want: e.Value.Len(), Got: g.n}
		// dash counts bytes, bash counts characters: either is the value.
		ch.OK = g.set && (g.n == e.Value.Len() || g.n == e.Value.RuneLen())
		out = append(out, ch)
	}
	return out, nil
}

// newExecutor streams over WebSockets and falls back to SPDY when the
// server (or a proxy) cannot upgrade, as kubectl exec does.
func newExecutor(cfg *rest.Config, req *rest.Request) (remotecommand.Executor, error) {
	spdy, err := remotecommand.NewSPDYExecutor(cfg, "POST", req.URL())
	if err != nil {
		return nil, err
	}
	ws, err := remotecommand.NewWebSocketExecutor(cfg, "GET", req.URL().String())
	if err != nil {
		return nil, err
	}
	return remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
}

type reported struct {
	set bool
	n   int
}

// parseLengths reads lengthScript's output. Anything else in it is an
// error that quotes none of it.
func parseLengths(b []byte) (map[string]reported, error) {
	out := map[string]reported{}
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if line == "" {
			continue
		}
		parts := strings.Split(line, ":")
		if len(parts) != 3 || !isEnvName(parts[0]) || (parts[1] != "" && parts[1] != "1") {
			return nil, fmt.Errorf("unexpected output from the length check (%d bytes)", len(b))
		}
		n, err := strconv.Atoi(parts[2])
		if err != nil || n < 0 {
			return nil, fmt.Errorf("unexpected output from the length check (%d bytes)", len(b))
		}
		out[parts[0]] = reported{set: parts[1] == "1", n: n}
	}
	return out, nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// WaitRolledOut waits until consumer's Deployment has replaced its pods
// with ones of the current template and they are available (kstatus
// Current), polling every interval.
func WaitRolledOut(ctx context.Context, cfg *rest.Config, consumer string, interval time.Duration) error {
	ns, name, err := splitConsumer(consumer)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("client for %s: %w", cfg.Host, err)
	}
	last := "not read yet"
	for {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("read Deployment %s: %w", consumer, err)
		}
		obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(d)
		if err != nil {
			return fmt.Errorf("convert Deployment %s: %w", consumer, err)
		}
		u := &unstructured.Unstructured{Object: obj}
		u.SetAPIVersion("apps/v1")
		u.SetKind("Deployment")
		res, err := status.Compute(u)
		if err != nil {
			return fmt.Errorf("status of Deployment %s: %w", consumer, err)
		}
		switch res.Status {
		case status.CurrentStatus:
			return nil
		case status.FailedStatus:
			return fmt.Errorf("Deployment %s failed to roll out: %s", consumer, res.Message)
		}
		last = res.Message
		select {
		case <-ctx.Done():
			return fmt.Errorf("Deployment %s has not rolled out (%s): %w", consumer, last, ctx.Err())
		case <-time.After(interval):
		}
	}
}
