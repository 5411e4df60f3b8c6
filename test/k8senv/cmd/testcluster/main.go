// Command testcluster starts the processes of the integration-test control
// plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok
// and the simulator) on free loopback ports, writes DIR/ready once the
// cluster is usable, and then stays as their supervisor: it is their
// parent, so it reaps them (pid 1 on these machines does not reap
// orphans), it stops them in order on SIGTERM, and it stops them when the
// owner process (a test binary) dies. scripts/testcluster runs it in the
// background and waits for DIR/ready; see the README (section The test cluster).
//
//	testcluster start --dir DIR --bin BINDIR [--webhooks=off|on] [--delays FILE]
//	                  [--pod-ready-delay SELECTOR=DURATION]... [--simulate=true]
//	                  [--owner-pid PID] [--real=LIST]
//
// --real=backstage runs the real Backstage backend (test/backstage) for
// every Backstage pod, with a real PostgreSQL for the chart's PostgreSQL
// pod; see real_backstage.go and, for what stays simulated, real_pod.go.
// --real=controllers runs the platform's controllers and admission
// webhooks (real_programs.go) for the pods their charts create, in a
// network namespace of the bench's own (real_netns.go), with webhooks on;
// see real_harness.go. The two combine: --real=controllers,backstage.
//
//	testcluster standin NAME ARGS...
//
// runs a stand-in for a container the bench cannot run (standin.go); the
// harness starts it in the container's pod.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: testcluster start [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "start":
		err = runStart(ctx, os.Args[2:])
	case "standin":
		err = runStandIn(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q (want start or standin)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "testcluster:", err)
		os.Exit(1)
	}
}
