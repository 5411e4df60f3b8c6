package bench

import (
	"fmt"
	"slices"
)

// CriticalPath returns the longest chain through the dependency graph
// needs, weighting each stage by its duration in seconds, and the chain
// itself (first stage first). It is the lower bound of a parallel run: no
// scheduler can finish before its slowest chain of dependent stages has
// run one after another. Stages without a duration count as zero, so a
// skipped stage does not hide a chain through it.
func CriticalPath(durations map[string]float64, needs map[string][]string) (float64, []string, error) {
	finish := make(map[string]float64, len(needs))
	prev := make(map[string]string, len(needs))
	state := make(map[string]int, len(needs)) // 0 new, 1 visiting, 2 done
	var visit func(string) error
	visit = func(n string) error {
		switch state[n] {
		case 1:
			return fmt.Errorf("dependency cycle through %s", n)
		case 2:
			return nil
		}
		state[n] = 1
		best, from := 0.0, ""
		for _, m := range needs[n] {
			if err := visit(m); err != nil {
				return err
			}
			if finish[m] > best || from == "" {
				best, from = finish[m], m
			}
		}
		finish[n], prev[n], state[n] = best+durations[n], from, 2
		return nil
	}
	names := make([]string, 0, len(needs))
	for n := range needs {
		names = append(names, n)
	}
	slices.Sort(names) // deterministic choice between equal chains
	end, longest := "", -1.0
	for _, n := range names {
		if err := visit(n); err != nil {
			return 0, nil, err
		}
		if finish[n] > longest {
			end, longest = n, finish[n]
		}
	}
	var chain []string
	for n := end; n != ""; n = prev[n] {
		chain = append(chain, n)
	}
	slices.Reverse(chain)
	return max(longest, 0), chain, nil
}
