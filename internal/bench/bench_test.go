package bench

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/neuroscale-dev/neuroscale/internal/catalog/catalogtest"
	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/render"
)

func TestCriticalPath(t *testing.T) {
	t.Parallel()
	needs := map[string][]string{
		"cert-manager": nil, "knative": nil, "kourier": {"knative"},
		"kserve": {"cert-manager", "knative", "kourier"}, "argocd": nil,
		"kyverno": {"kserve"}, "backstage": nil, "demo": {"kserve", "kyverno"},
	}
	tests := []struct {
		name  string
		d     map[string]float64
		want  float64
		chain []string
	}{
		{"kserve chain", map[string]float64{"cert-manager": 5, "knative": 4, "kourier": 1.5, "kserve": 6, "argocd": 8, "kyverno": 9, "backstage": 10, "demo": 0.5},
			21, []string{"knative", "kourier", "kserve", "kyverno", "demo"}},
		{"one slow independent stage", map[string]float64{"backstage": 60, "kserve": 1},
			60, []string{"backstage"}},
		{"slow cert-manager takes the chain", map[string]float64{"cert-manager": 20, "knative": 4, "kourier": 1, "kserve": 1},
			21, []string{"cert-manager", "kserve", "demo"}}, // stages that took no time may end the chain
		{"nothing measured", map[string]float64{}, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, chain, err := CriticalPath(tt.d, needs)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || (tt.chain != nil && !slices.Equal(chain, tt.chain)) {
				t.Errorf("CriticalPath = %v %v, want %v %v", got, chain, tt.want, tt.chain)
			}
		})
	}
	if _, _, err := CriticalPath(nil, map[string][]string{"a": {"b"}, "b": {"a"}}); err == nil {
		t.Error("a cycle must be an error")
	}
}

func TestMedian(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{9, 1, 5}, 5}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := Median(tt.in); got != tt.want {
			t.Errorf("Median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseEvents(t *testing.T) {
	t.Parallel()
	in := `time=... level=INFO msg="not an event"
{"time":"2026-01-01T00:00:00Z","stage":"cert-manager","state":"running","duration_s":0,"message":""}
{"time":"2026-01-01T00:00:05Z","stage":"cert-manager","state":"ready","duration_s":5.25,"message":""}
{"time":"2026-01-01T00:00:05Z","stage":"kserve","state":"unchanged","duration_s":0.1,"message":""}
{"summary": true}
{"time":"2026-01-01T00:00:05Z","stage":"demo","state":"failed","duration_s":1,"message":"boom"}
`
	ev, err := ParseEvents(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(ev) != 4 {
		t.Fatalf("got %d events, want 4: %+v", len(ev), ev)
	}
	d := StageDurations(ev)
	if d["cert-manager"] != 5.25 || d["kserve"] != 0.1 {
		t.Errorf("durations %v", d)
	}
	if f := Failed(ev); len(f) != 1 || f[0].Stage != "demo" {
		t.Errorf("failed %v", f)
	}
}

func TestBaselineSteps(t *testing.T) {
	t.Parallel()
	got := baselineSteps([]byte("bench-step cert-manager 5.125\nnoise\nbench-step kourier 1.000\n"))
	if got["cert-manager"] != 5.125 || got["kourier"] != 1 || len(got) != 2 {
		t.Errorf("baselineSteps = %v", got)
	}
}

// TestWritePlan renders the real fixtures into a plan and checks that the
// baseline gets every component in order, with values for every chart
// and a wait for every workload of the manifests.
func TestWritePlan(t *testing.T) {
	for _, smoke := range []bool{false, true} {
		t.Run(map[bool]string{false: "full", true: "smoke"}[smoke], func(t *testing.T) {
			work := t.TempDir()
			if d := os.Getenv("BENCH_KEEP_PLAN"); d != "" && !smoke {
				work = d
			}
			r := loadConfig(t, work, smoke)
			p, err := WritePlan(context.Background(), r, filepath.Join(work, "plan"))
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"cert-manager", "knative-serving", "kourier", "kserve", "argocd", "kyverno", "backstage", "demo"}
			if smoke {
				want = []string{"cert-manager", "knative-serving", "kourier"}
			}
			if !slices.Equal(p.Names(), want) {
				t.Errorf("components %v, want %v", p.Names(), want)
			}
			if got := p.Needs()["kourier"]; !slices.Equal(got, []string{"knative-serving"}) {
				t.Errorf("kourier needs %v", got)
			}
			b, err := os.ReadFile(filepath.Join(p.Dir, "install.tsv"))
			if err != nil {
				t.Fatal(err)
			}
			var comps []string
			for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				f := strings.Split(line, "\t")
				switch f[0] {
				case "component":
					comps = append(comps, f[1])
				case "chart":
					for _, file := range f[3:5] {
						if _, err := os.Stat(file); err != nil {
							t.Errorf("%s: %v", line, err)
						}
					}
				case "manifest":
					if _, err := os.Stat(f[1]); err != nil {
						t.Error(err)
					}
				}
			}
			if !slices.Equal(comps, want) {
				t.Errorf("install.tsv components %v, want %v", comps, want)
			}
			if !strings.Contains(string(b), "rollout\tdeployment\tkourier-system\t3scale-kourier-gateway") {
				t.Errorf("install.tsv does not wait for Kourier's gateway:\n%s", b)
			}
		})
	}
}

// loadConfig writes and loads the config the harness writes.
func loadConfig(t *testing.T, work string, smoke bool) *config.Resolved {
	t.Helper()
	kc := filepath.Join(work, "no-cluster.kubeconfig")
	if err := os.WriteFile(kc, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(work, "neuroscale.yaml")
	if err := os.WriteFile(cfg, []byte(ConfigYAML(catalogtest.MirrorURL(t), filepath.Join(work, "cache"), kc, smoke)), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := config.Load(config.LoadOptions{Path: cfg, Viper: config.NewViper(nil)})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestDefaultDelaysMatchWorkloads keeps the delayed variant honest as the
// charts change: every workload of the platform is delayed by exactly one
// selector, and no Job's pod (a hook that must complete) by any.
func TestDefaultDelaysMatchWorkloads(t *testing.T) {
	r := loadConfig(t, t.TempDir(), false)
	p, err := render.Render(context.Background(), r, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var sels []labels.Selector
	for _, d := range DefaultDelays() {
		s, err := labels.Parse(d.Selector)
		if err != nil {
			t.Fatalf("%s: %v", d.Selector, err)
		}
		sels = append(sels, s)
	}
	used := make([]bool, len(sels))
	for _, c := range p.Components {
		for _, o := range c.Objects() {
			kind := o.GetKind()
			if kind != "Deployment" && kind != "StatefulSet" && kind != "DaemonSet" && kind != "Job" {
				continue
			}
			l, _, _ := unstructured.NestedStringMap(o.Object, "spec", "template", "metadata", "labels")
			n := 0
			for i, s := range sels {
				if s.Matches(labels.Set(l)) {
					n++
					used[i] = true
				}
			}
			want := 1
			if kind == "Job" {
				want = 0
			}
			if n != want {
				t.Errorf("%s %s/%s: matched by %d delay selectors, want %d", kind, o.GetNamespace(), o.GetName(), n, want)
			}
		}
	}
	for i, u := range used {
		if !u {
			t.Errorf("delay selector %s matches no workload", DefaultDelays()[i].Selector)
		}
	}
}

func TestParseSummary(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		ok    bool
		chain string
		secs  float64
	}{
		{"up's result after events", `{"stage":"kserve","state":"ready","duration_s":3}
log line
{"profile":"dev","stages":[],"critical_path":{"stages":["cert-manager","kserve/kserve","demo"],"duration_s":12.5}}
`, true, "cert-manager,kserve/kserve,demo", 12.5},
		{"an older up without one", `{"profile":"dev","stages":[]}`, false, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ok, err := ParseSummary(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.ok || strings.Join(s.CriticalPath.Stages, ",") != tt.chain || s.CriticalPath.Seconds != tt.secs {
				t.Fatalf("got %v %+v, want %v %s %v", ok, s, tt.ok, tt.chain, tt.secs)
			}
		})
	}
}
