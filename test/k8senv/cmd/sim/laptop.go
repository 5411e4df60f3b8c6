package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/yaml"
)

// StartedAnnotation is what the laptop model sets on a pod once its images
// are on its node and its workload has had its start time; the test
// cluster's pod-ready stages wait for it when the model is on.
const StartedAnnotation = "testcluster.neuroscale.dev/started"

// laptopFile is the laptop model (--laptop): the link's bandwidth, each
// image's size with where the size comes from, and each workload's start
// time. Every duration is multiplied by TimeScale (and the bandwidth
// divided by it), so a bench run keeps the laptop's proportions in a
// fraction of its time.
type laptopFile struct {
	BandwidthMbit float64      `json:"bandwidthMbit"`
	TimeScale     float64      `json:"timeScale"`
	DefaultImage  imageSize    `json:"defaultImage"`
	Images        []imageSize  `json:"images"`
	Starts        []startEntry `json:"starts"`
}

type imageSize struct {
	Image string `json:"image,omitempty"`
	// Bytes is the compressed size (what a pull transfers).
	Bytes int64 `json:"bytes"`
	// Estimate is true when Bytes was not read from the registry
	// manifest of the pinned digest; Source says what it rests on.
	Estimate bool   `json:"estimate"`
	Source   string `json:"source"`
}

type startEntry struct {
	Selector string `json:"selector"`
	Start    string `json:"start"`
	Source   string `json:"source"`
}

// laptopModel is a parsed laptopFile.
type laptopModel struct {
	bytesPerSecond float64
	sizes          map[string]int64
	defaultBytes   int64
	starts         []podStart
}

type podStart struct {
	selector labels.Selector
	start    time.Duration
}

func readLaptop(path string) (*laptopModel, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read laptop model: %w", err)
	}
	return parseLaptop(b, path)
}

func parseLaptop(b []byte, path string) (*laptopModel, error) {
	var f laptopFile
	if err := yaml.UnmarshalStrict(b, &f); err != nil {
		return nil, fmt.Errorf("laptop model %s: %w", path, err)
	}
	var problems []string
	if f.BandwidthMbit <= 0 {
		problems = append(problems, "bandwidthMbit must be > 0")
	}
	if f.TimeScale <= 0 || f.TimeScale > 1 {
		problems = append(problems, "timeScale must be in (0, 1]")
	}
	m := &laptopModel{sizes: map[string]int64{}, defaultBytes: f.DefaultImage.Bytes}
	m.bytesPerSecond = f.BandwidthMbit * 1e6 / 8 / f.TimeScale
	for i, img := range append([]imageSize{f.DefaultImage}, f.Images...) {
		where := fmt.Sprintf("images[%d] %s", i-1, img.Image)
		if i == 0 {
			where = "defaultImage"
		}
		switch {
		case img.Bytes <= 0:
			problems = append(problems, where+": bytes must be > 0")
		case strings.TrimSpace(img.Source) == "":
			problems = append(problems, where+": source must say where the size comes from")
		case i > 0 && m.sizes[img.Image] != 0:
			problems = append(problems, where+": listed twice")
		}
		if i > 0 {
			m.sizes[img.Image] = img.Bytes
		}
	}
	for i, s := range f.Starts {
		sel, err := labels.Parse(s.Selector)
		if err != nil {
			problems = append(problems, fmt.Sprintf("starts[%d]: %v", i, err))
			continue
		}
		d, err := time.ParseDuration(s.Start)
		if err != nil || d < 0 {
			problems = append(problems, fmt.Sprintf("starts[%d]: start %q: want a duration like 90s", i, s.Start))
			continue
		}
		m.starts = append(m.starts, podStart{selector: sel, start: time.Duration(float64(d) * f.TimeScale)})
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("laptop model %s: %s", path, strings.Join(problems, "; "))
	}
	return m, nil
}

// size is image's transfer size, the default for an image not listed.
func (m *laptopModel) size(image string) int64 {
	if n, ok := m.sizes[image]; ok {
		return n
	}
	return m.defaultBytes
}

// start is the (scaled) start time of the pod's workload, 0 when no
// entry matches.
func (m *laptopModel) start(pod *corev1.Pod) time.Duration {
	for _, s := range m.starts {
		if s.selector.Matches(labels.Set(pod.Labels)) {
			return s.start
		}
	}
	return 0
}

// waitingPod is a pod whose images or start the model is waiting for.
type waitingPod struct {
	namespace, name string
	keys            []string
	start           time.Duration
	created         time.Time
	// startAt is set once every image is on the node.
	startAt time.Time
}

// runLaptop plays the kubelet's image pulls and the workloads' start
// times: each pod bound to a node asks for its images (init containers
// and containers); those not on the node are pulled over the shared
// link; once all are there and its start time has passed, the pod gets
// StartedAnnotation, and kwok's pod-ready stage makes it Ready.
func (s *sim) runLaptop(ctx context.Context, m *laptopModel) {
	events := make(chan *corev1.Pod, 256)
	gone := make(chan types.UID, 256)
	f := informers.NewSharedInformerFactory(s.cs, s.resync)
	send := func(obj any) {
		pod, ok := obj.(*corev1.Pod)
		if ok && pod.Labels[predictorLabel] != "" && podReady(pod) {
			s.mu.Lock()
			kick := s.kickISVC
			s.mu.Unlock()
			if kick != nil {
				go kick(pod.Namespace, pod.Labels[predictorLabel])
			}
		}
		if ok && pod.Spec.NodeName != "" && pod.Annotations[StartedAnnotation] == "" && pod.DeletionTimestamp == nil {
			select {
			case events <- pod:
			case <-ctx.Done():
			}
		}
	}
	_, _ = f.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    send,
		UpdateFunc: func(_, obj any) { send(obj) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if pod, ok := obj.(*corev1.Pod); ok {
				select {
				case gone <- pod.UID:
				case <-ctx.Done():
				}
			}
		},
	})
	f.Start(ctx.Done())
	go s.laptopLoop(ctx, m, events, gone)
}

func (s *sim) laptopLoop(ctx context.Context, m *laptopModel, events <-chan *corev1.Pod, gone <-chan types.UID) {
	model := newPullModel(m.bytesPerSecond, time.Now())
	waiting := map[types.UID]*waitingPod{}
	// started are pods already marked: an update queued before the mark
	// must not start them again.
	started := map[types.UID]bool{}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case pod := <-events:
			if _, ok := waiting[pod.UID]; ok || started[pod.UID] {
				break
			}
			now := time.Now()
			w := &waitingPod{namespace: pod.Namespace, name: pod.Name, start: m.start(pod), created: now}
			for _, c := range append(append([]corev1.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...) {
				key := pullKey(pod.Spec.NodeName, c.Image)
				if !model.request(now, key, m.size(c.Image)) {
					s.log.Info("laptop: pulling", "image", c.Image, "bytes", m.size(c.Image), "pod", pod.Namespace+"/"+pod.Name)
				}
				w.keys = append(w.keys, key)
			}
			waiting[pod.UID] = w
		case uid := <-gone:
			delete(waiting, uid)
			delete(started, uid)
		case <-timer.C:
		}
		now := time.Now()
		for _, t := range model.advance(now) {
			s.log.Info("laptop: pulled", "image", t.key, "bytes", t.size, "took", now.Sub(t.start).Round(time.Millisecond))
		}
		wake := time.Hour
		if d, ok := model.next(); ok {
			wake = d
		}
		for uid, w := range waiting {
			if w.startAt.IsZero() && allCached(model, w.keys) {
				w.startAt = now.Add(w.start)
			}
			if w.startAt.IsZero() {
				continue
			}
			if left := w.startAt.Sub(now); left > 0 {
				wake = min(wake, left)
				continue
			}
			if err := s.markStarted(ctx, w); err != nil {
				s.log.Warn("laptop: mark pod started", "pod", w.namespace+"/"+w.name, "err", err)
				wake = min(wake, time.Second) // try again
				continue
			}
			s.log.Info("laptop: pod started", "pod", w.namespace+"/"+w.name, "after", now.Sub(w.created).Round(time.Millisecond))
			delete(waiting, uid)
			started[uid] = true
		}
		timer.Reset(wake) // since Go 1.23 no stale tick survives a Reset
	}
}

func allCached(m *pullModel, keys []string) bool {
	for _, k := range keys {
		if !m.has(k) {
			return false
		}
	}
	return true
}

func (s *sim) markStarted(ctx context.Context, w *waitingPod) error {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{StartedAnnotation: "true"}}})
	_, err := s.cs.CoreV1().Pods(w.namespace).Patch(ctx, w.name, types.MergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
