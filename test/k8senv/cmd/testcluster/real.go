package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
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

// realStarters start the components --real can name. A starter prepares
// what it needs before the cluster is reported ready and returns a stop
// function that the launcher calls when the cluster stops, before it stops
// the control plane.
//
//   - backstage: the real Backstage backend for every Backstage pod, and a
//     real PostgreSQL for the chart's (real_backstage.go).
//   - controllers: the platform's controllers and admission webhooks, one
//     process per container of their pods (real_harness.go,
//     real_programs.go), in the bench's pod network (real_netns.go), with
//     the API server's admission webhooks on.
var realStarters = map[string]func(ctx context.Context, env realEnv) (stop func(), err error){
	"backstage":   startRealBackstage,
	"controllers": startRealControllers,
}

// realEnv is what a real component's starter gets from the launcher.
type realEnv struct {
	dir   string
	root  string // the repository (NEUROSCALE_TESTCLUSTER_ROOT)
	bin   string // the launcher's bin directory
	cs    kubernetes.Interface
	dyn   dynamic.Interface
	admin *rest.Config
	// podNet and podAPI are set with --real=controllers: the pods' network
	// namespace and the API server's URL as seen from inside it.
	podNet *podNetwork
	podAPI string
}

// startReal starts the components of o.real.
func startReal(ctx context.Context, o startOptions) (stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	if len(o.real) == 0 {
		return stop, nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(o.dir, "kubeconfig"))
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	env := realEnv{dir: o.dir, root: os.Getenv("NEUROSCALE_TESTCLUSTER_ROOT"), bin: o.bin, cs: cs, dyn: dyn, admin: cfg,
		podNet: o.podNet, podAPI: o.podAPI}
	names := make([]string, 0, len(o.real))
	for n := range o.real {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s, err := realStarters[n](ctx, env)
		if err != nil {
			stop()
			return nil, fmt.Errorf("--real=%s: %w", n, err)
		}
		stops = append(stops, s)
	}
	return stop, nil
}
