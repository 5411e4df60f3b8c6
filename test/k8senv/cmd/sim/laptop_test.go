package main

import (
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestParseLaptopModel reads the bench's model file (internal/bench,
// without the starts the bench adds) plus a start, and rejects a model
// that would mislead: a size without its source, an image twice, no
// bandwidth.
func TestParseLaptopModel(t *testing.T) {
	data, err := os.ReadFile("../../../../internal/bench/laptop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	good := string(data) + "starts:\n- selector: app.kubernetes.io/name=backstage\n  start: 90s\n  source: issue 15\n"
	m, err := parseLaptop([]byte(good), "laptop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// 50 Mbit/s at laptop time: 6.25 MB/s.
	if m.bytesPerSecond != 6.25e6 {
		t.Errorf("bandwidth %v B/s, want 6.25e6", m.bytesPerSecond)
	}
	if got := m.size("ghcr.io/backstage/backstage:1.45.0"); got <= m.defaultBytes {
		t.Errorf("backstage size %d, want its own (> default %d)", got, m.defaultBytes)
	}
	if got := m.size("example.com/unknown:1"); got != m.defaultBytes {
		t.Errorf("unknown image size %d, want the default", got)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app.kubernetes.io/name": "backstage"}}}
	if got := m.start(pod); got != 90*time.Second {
		t.Errorf("backstage start %v, want 90s", got)
	}
	if got := m.start(&corev1.Pod{}); got != 0 {
		t.Errorf("unmatched pod start %v, want 0", got)
	}

	scaled, err := parseLaptop([]byte("bandwidthMbit: 50\ntimeScale: 0.1\ndefaultImage: {bytes: 1, source: x}\nstarts:\n- {selector: a=b, start: 90s}\n"), "scaled.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if scaled.bytesPerSecond != 62.5e6 || scaled.starts[0].start != 9*time.Second {
		t.Errorf("at a tenth: %v B/s and start %v, want 62.5e6 and 9s", scaled.bytesPerSecond, scaled.starts[0].start)
	}
	for name, tc := range map[string]struct{ doc, want string }{
		"no source":    {"bandwidthMbit: 50\ntimeScale: 1\ndefaultImage: {bytes: 1, source: x}\nimages:\n- {image: a, bytes: 5}\n", "source must say"},
		"twice":        {"bandwidthMbit: 50\ntimeScale: 1\ndefaultImage: {bytes: 1, source: x}\nimages:\n- {image: a, bytes: 5, source: y}\n- {image: a, bytes: 6, source: y}\n", "listed twice"},
		"no bandwidth": {"timeScale: 1\ndefaultImage: {bytes: 1, source: x}\n", "bandwidthMbit"},
		"bad start":    {"bandwidthMbit: 5\ntimeScale: 1\ndefaultImage: {bytes: 1, source: x}\nstarts:\n- {selector: a=b, start: soon}\n", "want a duration"},
		"unknown key":  {"bandwidth: 5\n", "unknown field"},
	} {
		if _, err := parseLaptop([]byte(tc.doc), "x.yaml"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error with %q", name, err, tc.want)
		}
	}
}
