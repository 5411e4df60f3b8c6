package forward

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Holder is the process found listening on a local port.
type Holder struct {
	// PID is 0 when the socket was found but not its process (another
	// user's process, or a system without /proc).
	PID int
	// Command is the process's program (argv[0], without arguments).
	Command string
	// UID owns the listening socket; -1 when unknown.
	UID int
	// Inode identifies the socket in /proc/net/tcp{,6}.
	Inode uint64
}

// String names the holder the way the port-in-use message shows it.
func (h *Holder) String() string {
	switch {
	case h == nil:
		return "a process neuroscale could not identify (no listening socket in /proc/net/tcp)"
	case h.PID > 0:
		return fmt.Sprintf("pid %d (%s)", h.PID, h.Command)
	case h.UID >= 0:
		return fmt.Sprintf("a process of uid %d that this user cannot inspect (socket inode %d)", h.UID, h.Inode)
	}
	return fmt.Sprintf("an unidentified process (socket inode %d)", h.Inode)
}

// socket is one row of /proc/net/tcp or /proc/net/tcp6.
type socket struct {
	port   int
	listen bool
	uid    int
	inode  uint64
}

// tcpListen is the st column's value for LISTEN in /proc/net/tcp.
const tcpListen = "0A"

// parseProcNetTCP reads the kernel's table of TCP sockets (the format of
// /proc/net/tcp and /proc/net/tcp6: a header line, then one socket per
// line with local_address as HEXIP:HEXPORT, st, uid and inode columns).
// Lines it cannot read are skipped: the table is informational here.
func parseProcNetTCP(r io.Reader) []socket {
	var out []socket
	sc := bufio.NewScanner(r)
	first := true
	for sc.Scan() {
		if first {
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 10 {
			continue
		}
		_, hexPort, ok := strings.Cut(f[1], ":")
		if !ok {
			continue
		}
		port, err := strconv.ParseUint(hexPort, 16, 16)
		if err != nil {
			continue
		}
		uid, err := strconv.Atoi(f[7])
		if err != nil {
			uid = -1
		}
		inode, err := strconv.ParseUint(f[9], 10, 64)
		if err != nil {
			continue
		}
		out = append(out, socket{port: int(port), listen: f[3] == tcpListen, uid: uid, inode: inode})
	}
	return out
}

// FindHolder looks under procRoot (normally /proc) for the process
// listening on TCP port. Any listener on the port counts: on Linux a
// socket bound to 0.0.0.0 or [::] also blocks 127.0.0.1. It returns nil
// and no error when no listening socket is found (for example the port is
// held by a process in another network namespace).
func FindHolder(procRoot string, port int) (*Holder, error) {
	var listeners []socket
	var readErr error
	for _, table := range []string{"net/tcp", "net/tcp6"} {
		f, err := os.Open(filepath.Join(procRoot, table))
		if err != nil {
			readErr = errors.Join(readErr, err)
			continue
		}
		for _, s := range parseProcNetTCP(f) {
			if s.listen && s.port == port && s.inode != 0 {
				listeners = append(listeners, s)
			}
		}
		_ = f.Close()
	}
	if len(listeners) == 0 {
		if readErr != nil {
			return nil, fmt.Errorf("read socket tables: %w", readErr)
		}
		return nil, nil
	}
	want := make(map[string]socket, len(listeners))
	for _, s := range listeners {
		want[fmt.Sprintf("socket:[%d]", s.inode)] = s
	}
	pid, s, found := findSocketOwner(procRoot, want)
	if !found {
		return &Holder{UID: listeners[0].uid, Inode: listeners[0].inode}, nil
	}
	return &Holder{PID: pid, Command: processCommand(procRoot, pid), UID: s.uid, Inode: s.inode}, nil
}

// findSocketOwner walks procRoot/<pid>/fd/* for a link to one of the wanted
// sockets. Processes that vanish or cannot be read are skipped: that is
// the normal case for other users' processes.
func findSocketOwner(procRoot string, want map[string]socket) (int, socket, bool) {
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return 0, socket{}, false
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		fdDir := filepath.Join(procRoot, e.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if err != nil {
				continue
			}
			if s, ok := want[link]; ok {
				return pid, s, true
			}
		}
	}
	return 0, socket{}, false
}

// processCommand returns pid's program (argv[0]), or its comm when the
// command line is empty (kernel threads). The arguments are left out on
// purpose: a command line may carry a token.
func processCommand(procRoot string, pid int) string {
	dir := filepath.Join(procRoot, strconv.Itoa(pid))
	if b, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil && len(b) > 0 {
		argv0, _, _ := strings.Cut(string(b), "\x00")
		if argv0 = strings.TrimSpace(argv0); argv0 != "" {
			return argv0
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "comm")); err == nil {
		return strings.TrimSpace(string(b))
	}
	return "unknown program"
}
