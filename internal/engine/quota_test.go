package engine

import (
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
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
		q := &corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: hard}, Status: tt.status}
		if got := quotaStale(q); got != tt.want {
			t.Errorf("%s: quotaStale = %v, want %v", tt.name, got, tt.want)
		}
	}
	m := quotaUnknownRe.FindStringSubmatch(errors.New(`InferenceService/default/demo-iris-2 dry-run failed (Forbidden): inferenceservices.serving.kserve.io "demo-iris-2" is forbidden: status unknown for quota: default-namespace-quota, resources: count/inferenceservices.serving.kserve.io`).Error())
	if m == nil || m[1] != "default-namespace-quota" {
		t.Errorf("quota name not found: %v", m)
	}
}
