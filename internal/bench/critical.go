package bench

import (
	"time"

	"github.com/neuroscale-dev/neuroscale/internal/dag"
)

// CriticalPath is dag.CriticalPath (the one computation, which up's report
// uses too) in the harness's seconds: the longest chain through needs,
// each stage weighted by its duration, and the chain itself.
func CriticalPath(durations map[string]float64, needs map[string][]string) (float64, []string, error) {
	d := make(map[string]time.Duration, len(durations))
	for n, s := range durations {
		d[n] = time.Duration(s * float64(time.Second))
	}
	chain, total, err := dag.CriticalPath(d, needs)
	if err != nil {
		return 0, nil, err
	}
	return total.Seconds(), chain, nil
}
