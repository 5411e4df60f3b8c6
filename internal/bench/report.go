// Package bench measures neuroscale against the way the seed platform was
// installed: one component after another with the helm CLI and kubectl
// (the baseline, baseline.sh), both on fresh test clusters
// (scripts/testcluster) with the same rendered platform. It times cold
// installs, no-op re-runs and rendering, takes neuroscale's peak RSS from
// wait4's rusage, and computes the critical path of neuroscale's own stage
// timings as the lower bound of any parallel install. It reports; it never
// asserts (scripts/bench, the README (section Benchmarks)).
package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
)

// Summary is the --json file: medians of everything measured.
type Summary struct {
	Cold       Phase    `json:"cold"`
	Noop       Phase    `json:"noop"`
	Render     Phase    `json:"render"`
	PeakRSSMiB float64  `json:"peak_rss_mib"`
	Delayed    *Delayed `json:"delayed,omitempty"`
	// Laptop is the laptop model's cold installs, when that variant ran.
	Laptop *LaptopSummary `json:"laptop,omitempty"`
}

// Phase is one measured phase: medians in seconds.
type Phase struct {
	NeuroscaleS   float64  `json:"neuroscale_s"`
	BaselineS     float64  `json:"baseline_s"`
	CriticalPathS *float64 `json:"critical_path_s,omitempty"`
	// CriticalWholeS is the critical path of the same stage durations
	// through whole components (every step waiting for all of its
	// component's needs, the graph before issue 15).
	CriticalWholeS *float64 `json:"critical_path_whole_components_s,omitempty"`
}

// Delayed is the delayed variant's cold and no-op phases.
type Delayed struct {
	Cold Phase `json:"cold"`
	Noop Phase `json:"noop"`
}

// Summarize takes the medians of res. The critical path is the median of
// each cold neuroscale run's own critical path; peak RSS is the largest
// seen in any `neuroscale up`.
func Summarize(res *Results) Summary {
	s := Summary{
		Render: Phase{NeuroscaleS: Median(res.RenderNS), BaselineS: Median(res.RenderBase)},
	}
	for _, r := range res.Runs {
		s.PeakRSSMiB = max(s.PeakRSSMiB, r.PeakRSSMiB)
	}
	s.Cold, s.Noop = phases(res.Runs, "fast")
	if slices.Contains(res.Variants, "delayed") {
		c, n := phases(res.Runs, "delayed")
		s.Delayed = &Delayed{Cold: c, Noop: n}
	}
	s.Laptop = summarizeLaptop(res.Runs)
	return s
}

func phases(runs []Run, variant string) (cold, noop Phase) {
	var nc, nn, bc, bn, cp, wp []float64
	for _, r := range runs {
		if r.Variant != variant {
			continue
		}
		switch r.Tool {
		case "neuroscale":
			nc, nn, cp, wp = append(nc, r.ColdS), append(nn, r.NoopS), append(cp, r.CriticalS), append(wp, r.WholeS)
		case "baseline":
			bc, bn = append(bc, r.ColdS), append(bn, r.NoopS)
		}
	}
	crit, whole := Median(cp), Median(wp)
	return Phase{NeuroscaleS: Median(nc), BaselineS: Median(bc), CriticalPathS: &crit, CriticalWholeS: &whole},
		Phase{NeuroscaleS: Median(nn), BaselineS: Median(bn)}
}

// WriteJSON writes the summary to file.
func WriteJSON(file string, s Summary) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode summary: %w", err)
	}
	if err := os.WriteFile(file, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	return nil
}

// WriteTable prints the summary, the goals of issue 8 beside what was
// measured, and per-component medians (where the time goes).
func WriteTable(w io.Writer, res *Results, s Summary) error {
	if slices.Equal(res.Variants, []string{VariantLaptop}) {
		return writeLaptop(w, res, s)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "variant\tphase\tneuroscale\tbaseline\tns/baseline\tcritical path\tns/critical\twhole-component path\t")
	row := func(variant, phase string, p Phase) {
		crit, over, whole := "", "", ""
		if p.CriticalPathS != nil {
			crit = secs(*p.CriticalPathS)
			over = ratio(Ratio(p.NeuroscaleS, *p.CriticalPathS))
		}
		if p.CriticalWholeS != nil {
			whole = secs(*p.CriticalWholeS)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", variant, phase, secs(p.NeuroscaleS), secs(p.BaselineS), ratio(Ratio(p.NeuroscaleS, p.BaselineS)), crit, over, whole)
	}
	row("fast", "cold", s.Cold)
	row("fast", "no-op", s.Noop)
	if s.Delayed != nil {
		row("delayed", "cold", s.Delayed.Cold)
		row("delayed", "no-op", s.Delayed.Noop)
	}
	row("-", "render", s.Render)
	if err := tw.Flush(); err != nil {
		return err
	}
	n := 0
	for _, r := range res.Runs {
		if r.Tool == "neuroscale" {
			n++
		}
	}
	fmt.Fprintf(w, "\nmedians of %d pair(s) per variant; render: %d run(s) each, CPU %.2fs (neuroscale) vs %.2fs (helm template + kustomize build)\nneuroscale up peak RSS %.0f MiB (render %.0f MiB)\n",
		n/max(len(res.Variants), 1), len(res.RenderNS), Median(res.RenderNSCPU), Median(res.RenderBaseCPU), s.PeakRSSMiB, res.RenderRSSMiB)

	fmt.Fprintln(w, "\ngoals (issue 15; reported, not asserted):")
	variants := []struct {
		name string
		cold Phase
	}{{"fast", s.Cold}}
	if s.Delayed != nil {
		variants = append(variants, struct {
			name string
			cold Phase
		}{"delayed", s.Delayed.Cold})
	}
	for _, v := range variants {
		goal(w, fmt.Sprintf("cold <= 0.5x baseline, %s", v.name), Ratio(v.cold.NeuroscaleS, v.cold.BaselineS), 0.5, "x")
		if v.cold.CriticalPathS != nil {
			goal(w, fmt.Sprintf("cold <= 1.1x critical path, %s", v.name), Ratio(v.cold.NeuroscaleS, *v.cold.CriticalPathS), 1.1, "x")
		}
	}
	goal(w, "no-op <= 1 s", s.Noop.NeuroscaleS, 1, "s")
	goal(w, "render <= 1 s", s.Render.NeuroscaleS, 1, "s")
	goal(w, "render <= 0.2x baseline", Ratio(s.Render.NeuroscaleS, s.Render.BaselineS), 0.2, "x")
	goal(w, "peak RSS of up <= 250 MiB", s.PeakRSSMiB, 250, " MiB")
	if l := s.Laptop; l != nil {
		fmt.Fprintf(w, "\nlaptop model (cold, medians): baseline %s, up %s, up --pre-pull %s\n", secs(l.BaselineS), secs(l.NeuroscaleS), secs(l.PrePullS))
		goal(w, "laptop: cold up --pre-pull <= 0.6x cold up", l.PrePullRatio, 0.6, "x")
	}

	for _, v := range res.Variants {
		if err := stageTable(w, res, v); err != nil {
			return err
		}
	}
	return nil
}

func goal(w io.Writer, what string, got, limit float64, unit string) {
	mark := "met"
	if got > limit {
		mark = "MISSED"
	}
	fmt.Fprintf(w, "  %-58s %7.2f%s  %s\n", what, got, unit, mark)
}

// stageTable prints, per component, the median of neuroscale's stage
// durations and of the baseline's per-component sections, with the
// critical chain seen most often: where the time goes.
func stageTable(w io.Writer, res *Results, variant string) error {
	cols := map[string]map[string][]float64{}
	add := func(col string, steps map[string]float64) {
		for name, d := range steps {
			if cols[name] == nil {
				cols[name] = map[string][]float64{}
			}
			cols[name][col] = append(cols[name][col], d)
		}
	}
	chains, wholes := map[string]int{}, map[string]int{}
	for _, r := range res.Runs {
		if r.Variant != variant {
			continue
		}
		add(r.Tool+" cold", r.ColdSteps)
		add(r.Tool+" no-op", r.NoopSteps)
		if r.Tool == "neuroscale" {
			chains[strings.Join(r.Chain, " -> ")]++
			wholes[strings.Join(r.WholeChain, " -> ")]++
		}
	}
	fmt.Fprintf(w, "\nper component, %s variant (median seconds; neuroscale's stages overlap, the baseline's do not):\n", variant)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	heads := []string{"neuroscale cold", "baseline cold", "neuroscale no-op", "baseline no-op"}
	fmt.Fprintf(tw, "component\t%s\t\n", strings.Join(heads, "\t"))
	for _, name := range res.Plan.Names() {
		fmt.Fprintf(tw, "%s", name)
		for _, h := range heads {
			fmt.Fprintf(tw, "\t%s", secs(Median(cols[name][h])))
		}
		fmt.Fprintln(tw, "\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if best := mostSeen(chains); best != "" {
		fmt.Fprintf(w, "critical chain (cold): %s\n", best)
	}
	if best := mostSeen(wholes); best != "" {
		fmt.Fprintf(w, "critical chain through whole components (cold, the graph before issue 15): %s\n", best)
	}
	return nil
}

// mostSeen returns the key seen most often, ties broken by name.
func mostSeen(counts map[string]int) string {
	best, bestN := "", 0
	for c, n := range counts {
		if n > bestN || (n == bestN && c < best) {
			best, bestN = c, n
		}
	}
	return best
}

func secs(s float64) string { return fmt.Sprintf("%.2fs", s) }

func ratio(r float64) string { return fmt.Sprintf("%.2fx", r) }
