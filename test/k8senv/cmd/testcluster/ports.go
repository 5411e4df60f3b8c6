package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"
)

// maxPortAttempts bounds how often a process is started again on new ports.
const maxPortAttempts = 4

// startListening starts a process that listens on n loopback ports and
// waits until it serves. The ports are found free and released for the
// process to bind, so another process may take one in between (clusters of
// parallel test packages start at the same moment): the process then exits
// with "address already in use", and it is started again on new ports.
// start spawns the process on the ports; serving waits until it answers.
func startListening(ctx context.Context, dir, name string, n int, start func(ports []int) error, serving func() error) error {
	for attempt := 1; ; attempt++ {
		ports, err := freePorts(n)
		if err != nil {
			return err
		}
		if err := start(ports); err != nil {
			return err
		}
		err = serving()
		if err == nil {
			return nil
		}
		if attempt >= maxPortAttempts || ctx.Err() != nil || !portTaken(dir, name) {
			return err
		}
		fmt.Fprintf(os.Stderr, "testcluster: %s found port %v taken by another process; starting it again on new ports\n", name, ports)
		if pid, ok := readPid(dir, name); ok {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			for i := 0; i < 100 && ours(pid, dir); i++ {
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
}

// portTaken reports whether name's log says it could not bind its port.
func portTaken(dir, name string) bool {
	b, err := os.ReadFile(logPath(dir, name))
	return err == nil && strings.Contains(string(b), "address already in use")
}

// exitedDuringStart says which process ended the start, where its log is,
// and how the log ends, so a failure under load explains itself.
func exitedDuringStart(dir, name string) error {
	return fmt.Errorf("%s exited during start; its log %s ends with:\n%s", name, logPath(dir, name), logTail(dir, name, 15))
}

// kwokHealth is the health endpoint of kwok's kubelet server.
func kwokHealth(port int) string { return fmt.Sprintf("https://127.0.0.1:%d/healthz", port) }
