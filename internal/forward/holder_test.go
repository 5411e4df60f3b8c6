package forward

import (
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const procNetTCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1B5E 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1B5E 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 0 1 0000000000000000 20 4 30 10 -1
   2: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 77 1 0000000000000000 100 0 0 10 0
   3: garbage
`

const procNetTCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   998        0 9001 1 0000000000000000 100 0 0 10 0
`

func TestParseProcNetTCP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []socket
	}{
		{"ipv4 listen, established and unreadable rows", procNetTCP, []socket{
			{port: 7006, listen: true, uid: 1000, inode: 4242},
			{port: 7006, listen: false, uid: 1000, inode: 0},
			{port: 80, listen: true, uid: 0, inode: 77},
		}},
		{"ipv6", procNetTCP6, []socket{{port: 8080, listen: true, uid: 998, inode: 9001}}},
		{"header only", "sl local_address\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := parseProcNetTCP(strings.NewReader(tt.in))
			if len(got) != len(tt.want) {
				t.Fatalf("got %d sockets %+v, want %+v", len(got), got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("socket %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// fakeProc lays out a /proc with the socket tables and, for owner > 0, a
// process owner holding socket inode 4242 as fd 3.
func fakeProc(t *testing.T, owner int) string {
	t.Helper()
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "net"), 0o755))
	must(os.WriteFile(filepath.Join(root, "net", "tcp"), []byte(procNetTCP), 0o644))
	must(os.WriteFile(filepath.Join(root, "net", "tcp6"), []byte(procNetTCP6), 0o644))
	if owner > 0 {
		dir := filepath.Join(root, "4321")
		must(os.MkdirAll(filepath.Join(dir, "fd"), 0o755))
		must(os.Symlink("socket:[4242]", filepath.Join(dir, "fd", "3")))
		must(os.Symlink("/dev/null", filepath.Join(dir, "fd", "0")))
		must(os.WriteFile(filepath.Join(dir, "cmdline"), []byte("/usr/bin/kubectl\x00port-forward\x00--token=s3cr3t\x00"), 0o644))
	}
	return root
}

func TestFindHolderFakeProc(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		owner    int
		port     int
		wantNil  bool
		wantPID  int
		wantText string
	}{
		{"owner found", 4321, 7006, false, 4321, "pid 4321 (/usr/bin/kubectl)"},
		{"owner not visible", 0, 7006, false, 0, "uid 1000 that this user cannot inspect (socket inode 4242)"},
		{"ipv6 listener counts", 0, 8080, false, 0, "uid 998"},
		{"no listener", 4321, 9999, true, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, err := FindHolder(fakeProc(t, tt.owner), tt.port)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantNil {
				if h != nil {
					t.Fatalf("holder = %+v, want none", h)
				}
				return
			}
			if h == nil || h.PID != tt.wantPID {
				t.Fatalf("holder = %+v, want pid %d", h, tt.wantPID)
			}
			if !strings.Contains(h.String(), tt.wantText) {
				t.Errorf("holder string %q does not contain %q", h.String(), tt.wantText)
			}
			if strings.Contains(h.String(), "s3cr3t") {
				t.Errorf("holder string %q shows the command's arguments", h.String())
			}
		})
	}
}

func TestFindHolderThisProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the holder lookup reads Linux's /proc")
	}
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	h, err := FindHolder("/proc", ln.Addr().(*net.TCPAddr).Port)
	if err != nil {
		t.Fatal(err)
	}
	if h == nil || h.PID != os.Getpid() {
		t.Fatalf("holder = %+v, want this test process (pid %d)", h, os.Getpid())
	}
	if !strings.Contains(h.Command, "forward.test") {
		t.Errorf("command = %q, want the test binary", h.Command)
	}
}

func TestFindHolderNoProc(t *testing.T) {
	t.Parallel()
	if _, err := FindHolder(filepath.Join(t.TempDir(), "missing"), 80); err == nil {
		t.Fatal("want an error when there are no socket tables")
	}
}
