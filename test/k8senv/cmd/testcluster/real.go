package main

import (
	"fmt"
	"sort"
	"strings"
)

// realComponents is the --real=LIST flag: the comma-separated parts of the
// platform that run for real beside the simulated pods instead of being
// faked. Each name maps to a starter in realStarters.
type realComponents map[string]bool

func (r *realComponents) String() string {
	names := make([]string, 0, len(*r))
	for n := range *r {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

func (r *realComponents) Set(v string) error {
	if *r == nil {
		*r = realComponents{}
	}
	for _, n := range strings.Split(v, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if _, ok := realStarters[n]; !ok {
			known := make([]string, 0, len(realStarters))
			for k := range realStarters {
				known = append(known, k)
			}
			sort.Strings(known)
			return fmt.Errorf("--real: unknown component %q (known: %s)", n, strings.Join(known, ", "))
		}
		(*r)[n] = true
	}
	return nil
}
