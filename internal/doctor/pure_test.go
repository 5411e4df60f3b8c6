package doctor

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/neuroscale-dev/neuroscale/internal/diag"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/neuroscale-dev/neuroscale/internal/config"
)

func TestFlattenFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		raw  string
		want []string
	}{
		{"probe field in a keyed container",
			`{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"backstage-backend\"}":{".":{},"f:readinessProbe":{"f:initialDelaySeconds":{}}}}}}}}`,
			[]string{"spec.template.spec.containers[name=backstage-backend].readinessProbe.initialDelaySeconds"}},
		{"annotation and label",
			`{"f:metadata":{"f:annotations":{"f:a":{}},"f:labels":{".":{},"f:b":{}}}}`,
			[]string{"metadata.annotations.a", "metadata.labels.b"}},
		{"set value and index",
			`{"f:spec":{"f:finalizers":{"v:\"x\"":{}},"f:list":{"i:0":{}}}}`,
			[]string{"spec.finalizers[=x]", "spec.list[0]"}},
		{"element owned as a whole", `{"f:data":{".":{}}}`, []string{"data"}},
		{"not json", `nope`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := flattenFields([]byte(tt.raw))
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func mf(manager string, op metav1.ManagedFieldsOperationType, sub, raw string) metav1.ManagedFieldsEntry {
	ts := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	return metav1.ManagedFieldsEntry{Manager: manager, Operation: op, Subresource: sub, Time: &ts, FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(raw)}}
}

func TestHandEdits(t *testing.T) {
	t.Parallel()
	ours := []string{"neuroscale", "helm"}
	spec := `{"f:spec":{"f:replicas":{}}}`
	tests := []struct {
		name string
		mfs  []metav1.ManagedFieldsEntry
		want string
	}{
		{"not ours: ignored", []metav1.ManagedFieldsEntry{mf("kubectl-create", "Update", "", spec), mf("kubectl-edit", "Update", "", spec)}, ""},
		{"kubectl edit on ours", []metav1.ManagedFieldsEntry{mf("neuroscale", "Apply", "", spec), mf("kubectl-edit", "Update", "", spec)},
			"kubectl-edit (Update, 2026-01-02T03:04:05Z) owns spec.replicas"},
		{"helm-installed, kubectl patch", []metav1.ManagedFieldsEntry{mf("helm", "Update", "", spec), mf("kubectl-patch", "Update", "", `{"f:data":{"f:x":{}}}`)},
			"kubectl-patch (Update, 2026-01-02T03:04:05Z) owns data.x"},
		{"controllers and status are not hand edits", []metav1.ManagedFieldsEntry{
			mf("neuroscale", "Apply", "", spec),
			mf("kube-controller-manager", "Update", "", `{"f:metadata":{"f:annotations":{"f:deployment.kubernetes.io/revision":{}}}}`),
			mf("kubectl-edit", "Update", "status", `{"f:status":{"f:x":{}}}`),
			mf("cainjector", "Update", "", `{"f:webhooks":{}}`),
		}, ""},
		{"rollout restart is not drift", []metav1.ManagedFieldsEntry{mf("neuroscale", "Apply", "", spec),
			mf("kubectl-rollout", "Update", "", `{"f:spec":{"f:template":{"f:metadata":{"f:annotations":{"f:kubectl.kubernetes.io/restartedAt":{}}}}}}`)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, h := range handEdits(tt.mfs, ours) {
				got = append(got, h.String())
			}
			if strings.Join(got, "; ") != tt.want {
				t.Errorf("got %q, want %q", strings.Join(got, "; "), tt.want)
			}
		})
	}
}

func TestProbeDiffs(t *testing.T) {
	t.Parallel()
	dev := &config.Probe{InitialDelaySeconds: 120, PeriodSeconds: 10, TimeoutSeconds: 5, FailureThreshold: 30}
	tests := []struct {
		name string
		want *config.Probe
		got  *corev1.Probe
		diff string
	}{
		{"equal", dev, &corev1.Probe{InitialDelaySeconds: 120, PeriodSeconds: 10, TimeoutSeconds: 5, FailureThreshold: 30}, ""},
		{"chart defaults: values ignored", dev, &corev1.Probe{InitialDelaySeconds: 0, PeriodSeconds: 10, TimeoutSeconds: 2, FailureThreshold: 3},
			"startupProbe.initialDelaySeconds is 0, want 120; startupProbe.timeoutSeconds is 2, want 5; startupProbe.failureThreshold is 3, want 30"},
		{"unset fields compare with Kubernetes defaults", &config.Probe{InitialDelaySeconds: 60}, &corev1.Probe{InitialDelaySeconds: 60, PeriodSeconds: 10, TimeoutSeconds: 1, FailureThreshold: 3}, ""},
		{"missing", dev, nil, "startupProbe is missing"},
		{"not configured", nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := strings.Join(probeDiffs("startupProbe", tt.want, tt.got), "; "); got != tt.diff {
				t.Errorf("got %q, want %q", got, tt.diff)
			}
		})
	}
}

func TestNotReady(t *testing.T) {
	t.Parallel()
	isvc := func(conds ...any) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"status": map[string]any{"conditions": conds}}}
		u.SetNamespace("default")
		u.SetName("demo-iris-2")
		return u
	}
	cond := func(typ, status, reason, msg string) any {
		return map[string]any{"type": typ, "status": status, "reason": reason, "message": msg}
	}
	tests := []struct {
		name     string
		u        *unstructured.Unstructured
		want     bool
		evidence string
	}{
		{"ready", isvc(cond("Ready", "True", "", "")), false, ""},
		{"ingress not ready", isvc(cond("IngressReady", "False", "IngressNotConfigured", "Ingress has not yet been reconciled."), cond("Ready", "False", "IngressNotConfigured", "")), true,
			"Ready=False reason=IngressNotConfigured; IngressReady=False IngressNotConfigured Ingress has not yet been reconciled."},
		{"no status", isvc(), true, "Ready=Unknown reason=no Ready condition yet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, got := notReady(tt.u)
			if got != tt.want || f.Evidence != tt.evidence {
				t.Errorf("got %v %q, want %v %q", got, f.Evidence, tt.want, tt.evidence)
			}
			if got && (f.Object != "inferenceservice default/demo-iris-2" || f.Fix == "") {
				t.Errorf("finding %+v: want the object and a fix", f)
			}
		})
	}
}

func TestValueFindings(t *testing.T) {
	t.Parallel()
	const placeholder = "<YOUR_TOKEN_HERE>"
	r := &config.Resolved{Profile: "prod", Secrets: []config.ResolvedSecret{
		{Name: "GITHUB_TOKEN", Require: config.SecretRequire{Required: true, Why: "the scaffolder opens pull requests with it"}, Source: config.SecretSource{Kind: "github-token"}},
		{Name: "AUTH_GITHUB_CLIENT_ID", Require: config.SecretRequire{Required: true}, Source: config.SecretSource{Kind: "oauth-client-id"}},
	}}
	e := &env{Options: Options{Config: r, Names: DefaultNames()}}
	tests := []struct {
		name string
		data map[string][]byte
		want []string // id: evidence prefix
	}{
		{"valid token, missing client id", map[string][]byte{"GITHUB_TOKEN": []byte("ghp_" + "Ab3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6")},
			[]string{"secret-empty: keys present: GITHUB_TOKEN"}},
		{"placeholder", map[string][]byte{"GITHUB_TOKEN": []byte(placeholder), "AUTH_GITHUB_CLIENT_ID": []byte("Iv1.0123456789abcdef")},
			[]string{"secret-invalid: GITHUB_TOKEN: length 17, kind github-token: looks like a placeholder in angle brackets"}},
		{"empty", map[string][]byte{"GITHUB_TOKEN": {}, "AUTH_GITHUB_CLIENT_ID": []byte("Iv1.0123456789abcdef")},
			[]string{"secret-empty: GITHUB_TOKEN: length 0, kind github-token: is empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fs := valueFindings(e, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "backstage", Name: "neuroscale-backstage-secrets"}, Data: tt.data})
			if len(fs) != len(tt.want) {
				t.Fatalf("findings %+v, want %q", fs, tt.want)
			}
			for i, f := range fs {
				if got := f.ID + ": " + f.Evidence; !strings.HasPrefix(got, tt.want[i]) {
					t.Errorf("finding %q, want prefix %q", got, tt.want[i])
				}
				if strings.Contains(f.Evidence+f.Message+f.Fix, placeholder) || strings.Contains(f.Evidence+f.Message, "Ab3dE6") {
					t.Errorf("finding %+v shows a secret value", f)
				}
			}
		})
	}
}

func TestMarshalJSON(t *testing.T) {
	t.Parallel()
	empty, err := json.Marshal(&Report{})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(empty); got != `{"findings":[]}` {
		t.Errorf("healthy JSON = %s", got)
	}
	rep := &Report{Findings: []Finding{{ID: IDTraefikPresent, Severity: diag.Error, Object: "traefik", Message: "m", Fix: "f", Evidence: "e"}}, Notes: []string{"not in json"}}
	one, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(one); got != `{"findings":[{"id":"traefik-present","severity":"error","object":"traefik","message":"m","fix":"f","evidence":"e"}]}` {
		t.Errorf("JSON = %s", got)
	}
}

func TestSingular(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"deployments": "deployment", "clusterpolicies": "clusterpolicy", "ingressclasses": "ingressclass", "inferenceservices": "inferenceservice", "configmaps": "configmap"} {
		if got := singular(in); got != want {
			t.Errorf("singular(%s) = %s, want %s", in, got, want)
		}
	}
}
