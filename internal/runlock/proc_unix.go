//go:build unix

package runlock

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat's start time; it is
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// processStart returns when process pid started and whether it runs. The
// start time tells a live holder from an unrelated process that reuses its
// pid. Without /proc (macOS) only whether the pid runs is known, and the
// time is zero.
func processStart(pid int) (time.Time, bool) {
	if pid <= 0 {
		return time.Time{}, false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		if _, statErr := os.Stat("/proc/self/stat"); statErr == nil {
			return time.Time{}, false // /proc exists: the process does not
		}
		err := syscall.Kill(pid, 0)
		return time.Time{}, err == nil || errors.Is(err, syscall.EPERM)
	}
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return time.Time{}, true
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 20 || f[0] == "Z" {
		return time.Time{}, false // a zombie has exited
	}
	ticks, err := strconv.ParseInt(f[19], 10, 64)
	if err != nil {
		return time.Time{}, true
	}
	boot, ok := bootTime()
	if !ok {
		return time.Time{}, true
	}
	return boot.Add(time.Duration(ticks) * time.Second / clockTicks), true
}

// bootTime reads btime from /proc/stat.
func bootTime() (time.Time, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, false
			}
			return time.Unix(s, 0), true
		}
	}
	return time.Time{}, false
}
