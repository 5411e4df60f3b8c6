// Command testcluster starts the processes of the integration-test control
// plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok
// and the simulator) on free loopback ports and returns once the cluster is
// usable. It is called by scripts/testcluster, which builds it and the
// upstream binaries and owns `stop`; see docs/testcluster.md.
//
//	testcluster start --dir DIR --bin BINDIR [--webhooks=off|on] [--delays FILE]
//	                  [--pod-ready-delay SELECTOR=DURATION]... [--simulate=true]
//	                  [--owner-pid PID]
//	testcluster guard --dir DIR --owner-pid PID
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
		fmt.Fprintln(os.Stderr, "usage: testcluster start|guard [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "start":
		err = runStart(ctx, os.Args[2:])
	case "guard":
		err = runGuard(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q (want start or guard)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "testcluster:", err)
		os.Exit(1)
	}
}
