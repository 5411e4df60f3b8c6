package bench

import (
	_ "embed"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// laptopModel is the laptop variant's image sizes, bandwidth and time
// scale, each size with its source (see the file).
//
//go:embed laptop.yaml
var laptopModel []byte

// Tools of a run: the baseline script, neuroscale up, and neuroscale up
// with --pre-pull (the laptop variant's third column).
const (
	ToolBaseline   = "baseline"
	ToolNeuroscale = "neuroscale"
	ToolPrePull    = "neuroscale-prepull"
)

// predictorStart is the start of the demo's model server once its images
// are there (at delayScale: 20 s on a laptop): the sklearn server imports
// scikit-learn and downloads the model from the storage URI first.
var predictorStart = Delay{Selector: "component=predictor", Duration: 2 * time.Second}

// delayScale is the scale of DefaultDelays: Backstage's ~90 s start on a
// laptop runs 9 s in the delayed variant.
const delayScale = 0.1

// LaptopModel is the test cluster's --laptop file: laptop.yaml plus each
// workload's start on a laptop, taken from the delayed variant's delays
// (at delayScale) and the demo predictor's; the simulator applies the
// model's own timeScale to them.
func LaptopModel(delays []Delay) ([]byte, error) {
	var b strings.Builder
	b.Write(laptopModel)
	b.WriteString("starts:\n")
	for _, d := range append(append([]Delay(nil), delays...), predictorStart) {
		start := time.Duration(float64(d.Duration) / delayScale).Round(time.Second)
		fmt.Fprintf(&b, "  - selector: %s\n    start: %s\n    source: %s\n", strconv.Quote(d.Selector), start,
			strconv.Quote(fmt.Sprintf("estimate: the delayed variant's %s, which is at a tenth of laptop time", d.Duration)))
	}
	return []byte(b.String()), nil
}

// LaptopSummary is the laptop variant's cold installs: medians in seconds.
type LaptopSummary struct {
	BaselineS   float64 `json:"baseline_s"`
	NeuroscaleS float64 `json:"neuroscale_s"`
	PrePullS    float64 `json:"neuroscale_prepull_s"`
	// PrePullRatio is PrePullS / NeuroscaleS; the goal is <= 0.6.
	PrePullRatio float64 `json:"prepull_ratio"`
}

// summarizeLaptop takes the medians of the laptop variant's cold runs.
func summarizeLaptop(runs []Run) *LaptopSummary {
	cold := map[string][]float64{}
	for _, r := range runs {
		if r.Variant == VariantLaptop {
			cold[r.Tool] = append(cold[r.Tool], r.ColdS)
		}
	}
	if len(cold) == 0 {
		return nil
	}
	s := &LaptopSummary{BaselineS: Median(cold[ToolBaseline]), NeuroscaleS: Median(cold[ToolNeuroscale]), PrePullS: Median(cold[ToolPrePull])}
	s.PrePullRatio = Ratio(s.PrePullS, s.NeuroscaleS)
	return s
}

// VariantLaptop is the laptop model's variant.
const VariantLaptop = "laptop"

// writeLaptop is the table of a laptop-only run (--laptop): the three cold
// installs and their goal, then per component the medians of each tool's
// cold stage or section.
func writeLaptop(w io.Writer, res *Results, s Summary) error {
	l := s.Laptop
	if l == nil {
		return fmt.Errorf("no laptop run to report")
	}
	n := 0
	for _, r := range res.Runs {
		if r.Tool == ToolPrePull {
			n++
		}
	}
	fmt.Fprintf(w, "laptop model (internal/bench/laptop.yaml: image sizes, a shared 50 Mbit/s link, workload start times), medians of %d round(s):\n", n)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tbaseline\tup\tup --pre-pull\tpre-pull/up\t")
	fmt.Fprintf(tw, "cold\t%s\t%s\t%s\t%s\t\n", secs(l.BaselineS), secs(l.NeuroscaleS), secs(l.PrePullS), ratio(l.PrePullRatio))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\ngoal (issue 15; reported, not asserted):")
	goal(w, "laptop: cold up --pre-pull <= 0.6x cold up", l.PrePullRatio, 0.6, "x")

	cols := map[string]map[string][]float64{}
	for _, r := range res.Runs {
		for name, d := range r.ColdSteps {
			if cols[name] == nil {
				cols[name] = map[string][]float64{}
			}
			cols[name][r.Tool] = append(cols[name][r.Tool], d)
		}
	}
	fmt.Fprintln(w, "\nper component, cold (median seconds; neuroscale's stages overlap, the baseline's do not):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "component\tbaseline\tup\tup --pre-pull\t")
	for _, name := range res.Plan.Names() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", name, secs(Median(cols[name][ToolBaseline])), secs(Median(cols[name][ToolNeuroscale])), secs(Median(cols[name][ToolPrePull])))
	}
	return tw.Flush()
}
