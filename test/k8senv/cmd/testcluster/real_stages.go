package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	podfast "sigs.k8s.io/kwok/kustomize/stage/pod/fast"
)

// createRealStages adds a kwok stage for the pods of real programs: they
// start Running with an IP but not Ready, like a pod whose readiness probe
// has not passed yet; the harness marks them Ready once their process
// answers the container's readiness probe. Its weight beats kwok's own
// pod-ready stage, which would make them Ready at once.
func createRealStages(ctx context.Context, dyn dynamic.Interface) error {
	s, err := notReadyStage()
	if err != nil {
		return err
	}
	if _, err := dyn.Resource(stageGVR).Create(ctx, s, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create stage %s: %w", s.GetName(), err)
	}
	return nil
}

// notReadyStage derives the stage from kwok's own pod-ready stage.
func notReadyStage() (*unstructured.Unstructured, error) {
	s, err := decode([]byte(podfast.DefaultPodReady))
	if err != nil {
		return nil, fmt.Errorf("decode kwok stage: %w", err)
	}
	s.SetName("pod-ready-real-program")
	tmpl, _, _ := unstructured.NestedString(s.Object, "spec", "next", "statusTemplate")
	notReady := tmpl
	for _, cond := range []string{"Ready", "ContainersReady"} {
		re := regexp.MustCompile(`status: "True"(\s+)type: ` + cond + `\b`)
		notReady = re.ReplaceAllString(notReady, `status: "False"${1}type: `+cond)
	}
	// The first "ready: true" is in containerStatuses (init containers follow).
	ready := regexp.MustCompile(`(name: \{\{ \.name \| Quote \}\}\s+)ready: true`)
	if loc := ready.FindStringSubmatchIndex(notReady); loc != nil {
		notReady = notReady[:loc[0]] + notReady[loc[2]:loc[3]] + "ready: false" + notReady[loc[1]:]
	}
	if strings.Count(notReady, `status: "False"`) != 2 || !strings.Contains(notReady, "ready: false") {
		return nil, fmt.Errorf("kwok's pod-ready stage changed: cannot derive the not-ready stage of real programs")
	}
	if err := unstructured.SetNestedField(s.Object, notReady, "spec", "next", "statusTemplate"); err != nil {
		return nil, fmt.Errorf("stage template: %w", err)
	}
	exprs, _, _ := unstructured.NestedSlice(s.Object, "spec", "selector", "matchExpressions")
	exprs = append(exprs, map[string]any{
		"key":      fmt.Sprintf(`.spec.containers.[] | select(.image | test(%q)) | .name`, programImageRegexp()),
		"operator": "Exists",
	})
	if err := unstructured.SetNestedSlice(s.Object, exprs, "spec", "selector", "matchExpressions"); err != nil {
		return nil, fmt.Errorf("stage selector: %w", err)
	}
	if err := unstructured.SetNestedField(s.Object, int64(2), "spec", "weight"); err != nil {
		return nil, fmt.Errorf("stage weight: %w", err)
	}
	return s, nil
}

// programImageRegexp matches the images of every real program, as
// programFor does.
func programImageRegexp() string {
	var alts []string
	for _, p := range realPrograms() {
		alts = append(alts, regexp.QuoteMeta(p.image))
	}
	return `(^|/)(` + strings.Join(alts, "|") + `)(:|@|$)`
}
