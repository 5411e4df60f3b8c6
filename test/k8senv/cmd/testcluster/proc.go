package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// stopOrder lists the processes in the order they must be stopped: the
// clients first, then the API server, then etcd, because killing etcd and
// the API server together leaves the API server retrying for a long time.
// scripts/testcluster stop uses the same order after stopping the
// supervisor (which normally does all of it).
var stopOrder = []string{"sim", "kwok", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"}

// spawn starts bin detached from the launcher (own session, output to
// DIR/logs/NAME.log) and records its pid in DIR/pids/NAME.pid, so the
// process outlives this short-lived launcher and stop can find it by pid.
//
// It also records how the process was started (DIR/specs/NAME.json), so
// the supervisor can start it again with the same flags and ports when it
// exits (see restart.go).
func spawn(dir, name, bin string, args ...string) (int, error) {
	if err := writeSpec(dir, procSpec{Name: name, Bin: bin, Args: args}); err != nil {
		return 0, err
	}
	return startProc(dir, name, bin, args, os.O_TRUNC)
}

// startProc starts one process; logMode is os.O_TRUNC for a fresh start and
// os.O_APPEND for a restart, which keeps what the previous run logged.
func startProc(dir, name, bin string, args []string, logMode int) (int, error) {
	logPath := filepath.Join(dir, "logs", name+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|logMode, 0o644)
	if err != nil {
		return 0, fmt.Errorf("open log of %s: %w", name, err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", name, err)
	}
	pid := cmd.Process.Pid
	if err := os.WriteFile(pidFile(dir, name), []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		_ = cmd.Process.Kill()
		return 0, fmt.Errorf("record pid of %s: %w", name, err)
	}
	// Reap the child while the launcher lives, so an early exit shows up
	// as a dead pid instead of a zombie that looks alive.
	go func() { _ = cmd.Wait() }()
	return pid, nil
}

func pidFile(dir, name string) string { return filepath.Join(dir, "pids", name+".pid") }

// readPid returns the pid recorded for name if that process still runs and
// is one of ours: its command line must mention DIR, so a pid reused by an
// unrelated process is never signalled.
func readPid(dir, name string) (int, bool) {
	data, err := os.ReadFile(pidFile(dir, name))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 {
		return 0, false
	}
	return pid, ours(pid, dir)
}

func ours(pid int, dir string) bool {
	// A process that is still in execve has an empty command line for a
	// moment (the kernel sets the new one up after telling the parent the
	// exec succeeded): under load, a process just spawned was taken for
	// one that had exited ("etcd exited during start"). Look again for up
	// to a second; only a kernel thread stays empty that long.
	for range 100 {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			return false
		}
		if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
			// A zombie has exited; only its parent's wait is missing.
			if i := bytes.LastIndexByte(stat, ')'); i > 0 && len(stat) > i+2 && stat[i+2] == 'Z' {
				return false
			}
		}
		if len(cmdline) > 0 {
			return bytes.Contains(cmdline, []byte(dir))
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// stopAll stops the recorded processes in stopOrder: SIGTERM, then SIGKILL
// after grace.
func stopAll(dir string, grace time.Duration) {
	for _, name := range stopOrder {
		pid, ok := readPid(dir, name)
		if ok {
			_ = syscall.Kill(pid, syscall.SIGTERM)
			deadline := time.Now().Add(grace)
			for ours(pid, dir) && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if ours(pid, dir) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				for i := 0; i < 40 && ours(pid, dir); i++ {
					time.Sleep(50 * time.Millisecond)
				}
			}
		}
		_ = os.Remove(pidFile(dir, name))
	}
}

// freePorts asks the kernel for n distinct free loopback ports. They are
// released before use, so another process could take one in between; the
// window is small and a clash shows up as a start failure.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// supervise keeps the launcher running as the parent of the cluster's
// processes until ctx ends (SIGTERM from scripts/testcluster stop) or the
// owner process exits (a test binary that panicked skips its TestMain
// cleanup; this is what stops its cluster then), and stops them in order.
// It reports whether it stopped because the owner was gone. beforeStop
// runs before the processes are stopped (it stops the --real components).
func supervise(ctx context.Context, dir string, owner int, beforeStop func()) (ownerGone bool) {
	start := ""
	if owner > 1 {
		start = procStart(owner)
	}
	r := newRestarter(dir)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Printf("%s stop requested\n", time.Now().Format(time.RFC3339))
			beforeStop()
			stopAll(dir, 5*time.Second)
			return false
		case <-t.C:
		}
		r.check(ctx)
		if owner > 1 {
			if s := procStart(owner); s == "" || s != start {
				fmt.Printf("%s owner %d is gone: stopping the cluster\n", time.Now().Format(time.RFC3339), owner)
				beforeStop()
				stopAll(dir, 5*time.Second)
				return true
			}
		}
	}
}

// procStart returns the start time field of /proc/PID/stat ("" when the
// process is gone or a zombie), so a reused pid is not taken for the owner.
func procStart(pid int) string {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 20 || f[0] == "Z" {
		return ""
	}
	return f[19]
}
