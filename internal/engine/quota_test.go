package engine

import (
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
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

// TestRecountDue: an uncounted quota the controller has already computed
// is re-created after a second, one it has not computed yet only after
// quotaStaleAfter (the controller may be about to count it).
func TestRecountDue(t *testing.T) {
	t.Parallel()
	one := resource.MustParse("1")
	hard := corev1.ResourceList{"count/inferenceservices.serving.kserve.io": one}
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name   string
		status corev1.ResourceQuotaStatus
		age    time.Duration
		want   bool
	}{
		{"computed, just created", corev1.ResourceQuotaStatus{Hard: hard}, 500 * time.Millisecond, false},
		{"computed, a second old", corev1.ResourceQuotaStatus{Hard: hard}, quotaRecountAfter, true},
		{"not computed, a second old", corev1.ResourceQuotaStatus{}, quotaRecountAfter, false},
		{"not computed, stale", corev1.ResourceQuotaStatus{}, quotaStaleAfter, true},
	}
	for _, tt := range tests {
		e := &Engine{clock: clocktesting.NewFakeClock(created.Add(tt.age))}
		q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(created)}, Spec: corev1.ResourceQuotaSpec{Hard: hard}, Status: tt.status}
		if got := e.recountDue(q); got != tt.want {
			t.Errorf("%s: recountDue = %v, want %v", tt.name, got, tt.want)
		}
	}
}
