package engine

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestQuotaStale(t *testing.T) {
	t.Parallel()
	one := resource.MustParse("1")
	hard := corev1.ResourceList{"pods": one, "count/inferenceservices.serving.kserve.io": one}
	tests := []struct {
		name   string
		status corev1.ResourceQuotaStatus
		want   bool
	}{
		{"never computed", corev1.ResourceQuotaStatus{}, true},
		{"custom resource not counted yet", corev1.ResourceQuotaStatus{Hard: hard, Used: corev1.ResourceList{"pods": one}}, true},
		{"complete", corev1.ResourceQuotaStatus{Hard: hard, Used: hard}, false},
	}
	for _, tt := range tests {
		q := &corev1.ResourceQuota{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ResourceQuota"}, Spec: corev1.ResourceQuotaSpec{Hard: hard}, Status: tt.status}
		if got := quotaStale(q); got != tt.want {
			t.Errorf("%s: quotaStale = %v, want %v", tt.name, got, tt.want)
		}
		// up waits for a quota until it is counted: before, it refuses
		// what it counts ("status unknown for quota").
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(q)
		if err != nil {
			t.Fatal(err)
		}
		ready, msg := kindReady(&unstructured.Unstructured{Object: u})
		if ready == tt.want {
			t.Errorf("%s: kindReady = %v (%s), want %v", tt.name, ready, msg, !tt.want)
		}
		if !ready && !strings.Contains(msg, "count/inferenceservices.serving.kserve.io") {
			t.Errorf("%s: kindReady's message %q does not name the uncounted limit", tt.name, msg)
		}
	}
	m := quotaUnknownRe.FindStringSubmatch(errors.New(`InferenceService/default/demo-iris-2 dry-run failed (Forbidden): inferenceservices.serving.kserve.io "demo-iris-2" is forbidden: status unknown for quota: default-namespace-quota, resources: count/inferenceservices.serving.kserve.io`).Error())
	if m == nil || m[1] != "default-namespace-quota" {
		t.Errorf("quota name not found: %v", m)
	}
}
