package bench

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/neuroscale-dev/neuroscale/internal/config"
)

// baselineScript is the baseline installer; it is written next to the
// plan so it can also be run by hand (see the README (section Benchmarks)).
//
//go:embed baseline.sh
var baselineScript []byte

// Tools are the binaries and scripts the harness runs.
type Tools struct {
	Neuroscale  string // neuroscale, built from this checkout
	Helm        string // helm v3.22.0, built from the main module
	Kubectl     string // kubectl from the test cluster's build cache
	TestCluster string // scripts/testcluster
}

// Mode says how much to run.
type Mode int

// Modes, from the longest to the shortest.
const (
	// Full runs Options.Pairs pairs of both variants.
	Full Mode = iota
	// Quick runs one pair without the delayed variant.
	Quick
	// Smoke installs only a small part of the platform once, to check the
	// harness in CI; its numbers mean nothing.
	Smoke
	// Laptop runs Options.Pairs rounds of the laptop variant only (its
	// installs take minutes each: the pulls run at laptop time).
	Laptop
)

// Options configure Run.
type Options struct {
	Tools Tools
	Mode  Mode
	// Pairs is the number of baseline/neuroscale pairs per variant in Full
	// mode (at least 3 makes the median mean something).
	Pairs int
	// RenderRuns is how often each renderer runs.
	RenderRuns int
	// Mirror is the file:// mirror of the upstream fixtures.
	Mirror string
	// Work holds the config, plan, cache, clusters and logs.
	Work string
	// Delays are the delayed variant's pod readiness delays.
	Delays []Delay
	// Progress receives one line per step of the harness.
	Progress io.Writer
}

// Delay holds pods matching Selector Pending for Duration (the test
// cluster's --pod-ready-delay).
type Delay struct {
	Selector string
	Duration time.Duration
}

// Variant is a set of clusters measured alike.
type Variant struct {
	Name   string
	Delays []Delay
	// Laptop runs the clusters with the laptop model (LaptopModel).
	Laptop bool
	// Tools are what is measured in each round, in order (default the
	// baseline and neuroscale).
	Tools []string
}

// laptopVariant measures the baseline, up and up --pre-pull on the
// laptop model.
func laptopVariant(delays []Delay) Variant {
	return Variant{Name: VariantLaptop, Delays: delays, Laptop: true, Tools: []string{ToolBaseline, ToolNeuroscale, ToolPrePull}}
}

// Run is one install (cold) and its re-run (no-op) on one fresh cluster.
type Run struct {
	Variant string  `json:"variant"`
	Tool    string  `json:"tool"` // "neuroscale" or "baseline"
	Pair    int     `json:"pair"`
	ColdS   float64 `json:"cold_s"`
	NoopS   float64 `json:"noop_s"`
	// ColdSteps and NoopSteps are per-component seconds: neuroscale's
	// stage durations, the baseline's per-component sections.
	ColdSteps map[string]float64 `json:"cold_steps"`
	NoopSteps map[string]float64 `json:"noop_steps"`
	// CriticalS and Chain are neuroscale's cold critical path, as up
	// reports it (through the phases of stages whose steps need
	// different things).
	CriticalS float64  `json:"critical_path_s,omitempty"`
	Chain     []string `json:"critical_chain,omitempty"`
	// WholeS and WholeChain are the critical path of the same stage
	// durations had every component waited for all its needs before its
	// first step (the graph before issue 15): what the phases saved.
	WholeS     float64  `json:"critical_path_whole_components_s,omitempty"`
	WholeChain []string `json:"critical_chain_whole_components,omitempty"`
	// PeakRSSMiB is neuroscale's maximum resident set over both runs.
	PeakRSSMiB float64 `json:"peak_rss_mib,omitempty"`
}

// Results are everything one harness run measured.
type Results struct {
	Plan       *Plan     `json:"plan"`
	Runs       []Run     `json:"runs"`
	RenderNS   []float64 `json:"render_neuroscale_s"`
	RenderBase []float64 `json:"render_baseline_s"`
	// RenderNSCPU and RenderBaseCPU are CPU seconds (user+system): on a
	// shared machine they say more about the work than wall time does.
	RenderNSCPU   []float64 `json:"render_neuroscale_cpu_s"`
	RenderBaseCPU []float64 `json:"render_baseline_cpu_s"`
	RenderRSSMiB  float64   `json:"render_peak_rss_mib"`
	Variants      []string  `json:"variants"`
	Started, Done time.Time
}

// Execute runs the benchmark described by o.
func Execute(ctx context.Context, o Options) (*Results, error) {
	h := &harness{o: o}
	return h.run(ctx)
}

type harness struct {
	o      Options
	config string
	plan   *Plan
}

func (h *harness) logf(format string, args ...any) {
	if h.o.Progress != nil {
		fmt.Fprintf(h.o.Progress, "bench: "+format+"\n", args...)
	}
}

func (h *harness) run(ctx context.Context) (*Results, error) {
	res := &Results{Started: time.Now()}
	if err := os.MkdirAll(filepath.Join(h.o.Work, "logs"), 0o755); err != nil {
		return nil, fmt.Errorf("work dir: %w", err)
	}
	if err := h.prepare(ctx); err != nil {
		return nil, err
	}
	res.Plan = h.plan

	variants := []Variant{{Name: "fast"}}
	if h.o.Mode == Full {
		variants = append(variants, Variant{Name: "delayed", Delays: h.o.Delays})
	}
	if h.o.Mode == Laptop {
		variants = []Variant{laptopVariant(h.o.Delays)}
	}
	pairs := 1
	if h.o.Mode == Full || h.o.Mode == Laptop {
		pairs = max(h.o.Pairs, 1)
	}
	for _, v := range variants {
		res.Variants = append(res.Variants, v.Name)
	}

	if err := h.renders(ctx, res); err != nil {
		return nil, err
	}
	for i := range pairs {
		for _, v := range variants {
			// Alternate who goes first, so a drift in the machine's load
			// over the run (another engineer's build) hits both alike.
			tools := []string{ToolBaseline, ToolNeuroscale}
			if len(v.Tools) > 0 {
				tools = slices.Clone(v.Tools)
			}
			if i%2 == 1 {
				slices.Reverse(tools)
			}
			for _, tool := range tools {
				r, err := h.pair(ctx, v, tool, i)
				if err != nil {
					return nil, err
				}
				res.Runs = append(res.Runs, *r)
			}
		}
	}
	res.Done = time.Now()
	return res, nil
}

// prepare writes the config and the plan, and warms the cache: every run
// after it reads charts and manifests from the cache, as on a re-run.
func (h *harness) prepare(ctx context.Context) error {
	placeholder := filepath.Join(h.o.Work, "no-cluster.kubeconfig")
	// Loading an existing-provider config checks that its kubeconfig
	// exists; rendering never reads it, and every up gets --kubeconfig.
	if err := os.WriteFile(placeholder, []byte("# placeholder: bench passes --kubeconfig to every command that needs a cluster\n"), 0o644); err != nil {
		return fmt.Errorf("write placeholder kubeconfig: %w", err)
	}
	h.config = filepath.Join(h.o.Work, "neuroscale.yaml")
	if err := os.WriteFile(h.config, []byte(ConfigYAML(h.o.Mirror, filepath.Join(h.o.Work, "cache"), placeholder, h.o.Mode == Smoke)), 0o644); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	if err := os.WriteFile(filepath.Join(h.o.Work, "baseline.sh"), baselineScript, 0o755); err != nil {
		return fmt.Errorf("write baseline script: %w", err)
	}
	r, err := config.Load(config.LoadOptions{Path: h.config, Viper: config.NewViper(nil)})
	if err != nil {
		return fmt.Errorf("load bench config %s: %w", h.config, err)
	}
	h.logf("rendering the platform into the baseline's plan (%s)", filepath.Join(h.o.Work, "plan"))
	h.plan, err = WritePlan(ctx, r, filepath.Join(h.o.Work, "plan"))
	if err != nil {
		return err
	}
	return nil
}

// ConfigYAML is the neuroscale.yaml every run uses: the dev profile on an
// existing cluster, sources from the mirror into a cache of its own. Smoke
// keeps cert-manager, Knative and Kourier only: two independent
// components and a dependent, enough to exercise parallel stages and both
// step kinds in seconds.
func ConfigYAML(mirror, cache, kubeconfig string, smoke bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# Written by scripts/bench; see the README (section Benchmarks).
apiVersion: neuroscale.dev/v1alpha1
kind: Platform
profile: dev
cluster:
  provider: existing
  kubeconfig: %s
sources:
  mirror: %s
  cacheDir: %s
components:
`, strconv.Quote(kubeconfig), strconv.Quote(mirror), strconv.Quote(cache))
	if !smoke {
		b.WriteString("  demo:\n    enabled: true\n")
		return b.String()
	}
	for _, c := range []string{"kserve", "argocd", "kyverno", "backstage", "demo"} {
		fmt.Fprintf(&b, "  %s:\n    enabled: false\n", c)
	}
	return b.String()
}

func (h *harness) renders(ctx context.Context, res *Results) error {
	n := max(h.o.RenderRuns, 1)
	for i := range n {
		out := filepath.Join(h.o.Work, "render-out")
		if err := os.RemoveAll(out); err != nil {
			return fmt.Errorf("clear render output: %w", err)
		}
		p, err := h.exec(ctx, fmt.Sprintf("render-neuroscale-%d", i), nil, h.o.Tools.Neuroscale, "render", "-c", h.config, "--output-dir", out)
		if err != nil {
			return err
		}
		res.RenderNS = append(res.RenderNS, p.wall.Seconds())
		res.RenderNSCPU = append(res.RenderNSCPU, p.cpu.Seconds())
		res.RenderRSSMiB = max(res.RenderRSSMiB, p.rssMiB)
		b, err := h.exec(ctx, fmt.Sprintf("render-baseline-%d", i), h.baselineEnv(""), "bash", filepath.Join(h.o.Work, "baseline.sh"), "render", h.plan.Dir)
		if err != nil {
			return err
		}
		res.RenderBase = append(res.RenderBase, b.wall.Seconds())
		res.RenderBaseCPU = append(res.RenderBaseCPU, b.cpu.Seconds())
		h.logf("render %d/%d: neuroscale %.2fs (%.2fs CPU), helm template + kustomize build %.2fs (%.2fs CPU)", i+1, n, p.wall.Seconds(), p.cpu.Seconds(), b.wall.Seconds(), b.cpu.Seconds())
	}
	return nil
}

// pair installs the platform with tool on a fresh cluster of variant v,
// then runs the same install again on the converged cluster.
func (h *harness) pair(ctx context.Context, v Variant, tool string, i int) (_ *Run, err error) {
	name := fmt.Sprintf("%s-%d-%s", v.Name, i, tool)
	dir := filepath.Join(h.o.Work, "clusters", name)
	kubeconfig, err := h.startCluster(ctx, dir, v)
	if err != nil {
		return nil, err
	}
	defer func() {
		if serr := h.stopCluster(dir, err == nil); serr != nil && err == nil {
			err = serr
		}
	}()
	r := &Run{Variant: v.Name, Tool: tool, Pair: i}
	for _, phase := range []string{"cold", "noop"} {
		label := name + "-" + phase
		var (
			p     *proc
			steps map[string]float64
		)
		switch tool {
		case ToolNeuroscale, ToolPrePull:
			env := []string{"NEUROSCALE_CLUSTER_PROVIDER=existing"}
			// --no-verify: verification talks HTTP to Backstage and the
			// model through forwards, and nothing answers HTTP on the test
			// cluster; the baseline does not verify either.
			args := []string{"up", "--no-forward", "--no-verify", "-o", "json", "-c", h.config, "--kubeconfig", kubeconfig}
			if tool == ToolPrePull {
				args = append(args, "--pre-pull")
			}
			p, err = h.exec(ctx, label, env, h.o.Tools.Neuroscale, args...)
			if err != nil {
				return nil, err
			}
			events, perr := ParseEvents(io.MultiReader(bytes.NewReader(p.stdout), strings.NewReader("\n"), bytes.NewReader(p.stderr)))
			if perr != nil {
				return nil, fmt.Errorf("%s: read events: %w", label, perr)
			}
			if len(events) == 0 {
				return nil, fmt.Errorf("%s: neuroscale up printed no JSON events (logs in %s)", label, h.logPath(label))
			}
			if f := Failed(events); len(f) > 0 {
				return nil, fmt.Errorf("%s: stage %s %s: %s (logs in %s)", label, f[0].Stage, f[0].State, f[0].Message, h.logPath(label))
			}
			steps = StageDurations(events)
			r.PeakRSSMiB = max(r.PeakRSSMiB, p.rssMiB)
			if phase == "cold" {
				if r.WholeS, r.WholeChain, err = CriticalPath(steps, h.plan.Needs()); err != nil {
					return nil, fmt.Errorf("%s: %w", label, err)
				}
				r.CriticalS, r.Chain = r.WholeS, r.WholeChain
				sum, ok, serr := ParseSummary(bytes.NewReader(p.stdout))
				if serr != nil {
					return nil, fmt.Errorf("%s: read result: %w", label, serr)
				}
				if ok {
					r.CriticalS, r.Chain = sum.CriticalPath.Seconds, sum.CriticalPath.Stages
				}
			}
		case "baseline":
			p, err = h.exec(ctx, label, h.baselineEnv(kubeconfig), "bash", filepath.Join(h.o.Work, "baseline.sh"), "install", h.plan.Dir)
			if err != nil {
				return nil, err
			}
			steps = baselineSteps(p.stdout)
		}
		if phase == "cold" {
			r.ColdS, r.ColdSteps = p.wall.Seconds(), steps
		} else {
			r.NoopS, r.NoopSteps = p.wall.Seconds(), steps
		}
		h.logf("%-28s %6.1fs", label, p.wall.Seconds())
	}
	return r, nil
}

func (h *harness) baselineEnv(kubeconfig string) []string {
	helmHome := filepath.Join(h.o.Work, "helm")
	env := []string{
		"HELM=" + h.o.Tools.Helm,
		"KUBECTL=" + h.o.Tools.Kubectl,
		// Keep helm's cache and repositories out of the user's home.
		"HELM_CACHE_HOME=" + filepath.Join(helmHome, "cache"),
		"HELM_CONFIG_HOME=" + filepath.Join(helmHome, "config"),
		"HELM_DATA_HOME=" + filepath.Join(helmHome, "data"),
	}
	if kubeconfig != "" {
		env = append(env, "KUBECONFIG="+kubeconfig)
	}
	return env
}

// baselineSteps reads the script's "bench-step COMPONENT SECONDS" lines.
func baselineSteps(out []byte) map[string]float64 {
	steps := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[0] == "bench-step" {
			if s, err := strconv.ParseFloat(f[2], 64); err == nil {
				steps[f[1]] = s
			}
		}
	}
	return steps
}

func (h *harness) startCluster(ctx context.Context, dir string, v Variant) (string, error) {
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("clear cluster dir: %w", err)
	}
	// --owner-pid: the cluster goes away with the harness, even on ^C.
	args := []string{"start", dir, "--owner-pid", strconv.Itoa(os.Getpid())}
	if v.Laptop {
		// The delays become the workloads' start times in the model.
		model, err := LaptopModel(v.Delays)
		if err != nil {
			return "", err
		}
		file := filepath.Join(h.o.Work, "laptop-model.yaml")
		if err := os.WriteFile(file, model, 0o644); err != nil {
			return "", fmt.Errorf("write laptop model: %w", err)
		}
		args = append(args, "--laptop", file)
	} else {
		for _, d := range v.Delays {
			args = append(args, "--pod-ready-delay", fmt.Sprintf("%s=%s", d.Selector, d.Duration))
		}
	}
	label := "cluster-" + filepath.Base(dir)
	var (
		p   *proc
		err error
	)
	// A start that loses a port race with another cluster on the machine
	// (other tests pick free ports too) is not what is measured: try again.
	for attempt := 1; ; attempt++ {
		if p, err = h.exec(ctx, label, nil, h.o.Tools.TestCluster, args...); err == nil || attempt == 3 || ctx.Err() != nil {
			break
		}
		h.logf("cluster %s did not start (attempt %d): %v; retrying", filepath.Base(dir), attempt, err)
		if serr := h.stopCluster(dir, false); serr != nil {
			return "", serr
		}
		if err := os.RemoveAll(dir); err != nil {
			return "", fmt.Errorf("clear cluster dir: %w", err)
		}
	}
	if err != nil {
		return "", err
	}
	kc := strings.TrimSpace(string(p.stdout))
	if i := strings.LastIndexByte(kc, '\n'); i >= 0 {
		kc = kc[i+1:]
	}
	if _, err := os.Stat(kc); err != nil {
		return "", fmt.Errorf("start cluster %s: no kubeconfig in its output: %w", dir, err)
	}
	h.logf("cluster %s up (%.1fs)", filepath.Base(dir), p.wall.Seconds())
	return kc, nil
}

// stopCluster stops the cluster and, after a good run, drops its etcd
// data (hundreds of MB per cluster); logs stay for a look afterwards.
func (h *harness) stopCluster(dir string, clean bool) error {
	// A fresh context: the cluster must stop even when ctx was cancelled.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := h.exec(ctx, "stop-"+filepath.Base(dir), nil, h.o.Tools.TestCluster, "stop", dir); err != nil {
		return err
	}
	if clean {
		return os.RemoveAll(filepath.Join(dir, "etcd-data"))
	}
	return nil
}

// proc is a finished child process.
type proc struct {
	wall           time.Duration
	rssMiB         float64
	cpu            time.Duration // user+system, the process and its reaped children
	stdout, stderr []byte
}

func (h *harness) logPath(label string) string {
	return filepath.Join(h.o.Work, "logs", label+".log")
}

// exec runs name with args and env added to the harness's environment,
// timing it from start to exit and reading its peak RSS from wait4's
// rusage. Output is kept for parsing and in logs/LABEL.log for a reader.
func (h *harness) exec(ctx context.Context, label string, env []string, name string, args ...string) (*proc, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = h.o.Work
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	runErr := cmd.Run()
	p := &proc{wall: time.Since(start), stdout: stdout.Bytes(), stderr: stderr.Bytes()}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru != nil {
		p.rssMiB = float64(ru.Maxrss) / 1024 // KiB on Linux
		p.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	log := fmt.Sprintf("$ %s %s\n# env: %s\n# wall %.3fs, CPU %.3fs, peak RSS %.1f MiB, error %v\n--- stdout\n%s--- stderr\n%s",
		name, strings.Join(args, " "), strings.Join(env, " "), p.wall.Seconds(), p.cpu.Seconds(), p.rssMiB, runErr, stdout.Bytes(), stderr.Bytes())
	if err := os.WriteFile(h.logPath(label), []byte(log), 0o644); err != nil {
		return nil, fmt.Errorf("write log: %w", err)
	}
	if runErr != nil {
		var ee *exec.ExitError
		if errors.As(runErr, &ee) {
			return nil, fmt.Errorf("%s: %s exited %d: %s (full log: %s)", label, filepath.Base(name), ee.ExitCode(), lastLines(stderr.Bytes(), 5), h.logPath(label))
		}
		return nil, fmt.Errorf("%s: run %s: %w", label, name, runErr)
	}
	return p, nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
