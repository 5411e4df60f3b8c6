package cli

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/neuroscale-dev/neuroscale/internal/config"
)

// unreachableKubeconfig writes a kubeconfig whose API server is a
// 127.0.0.1 port that was listened on and closed, so nothing answers.
func unreachableKubeconfig(t *testing.T) (path, server string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server = "https://" + l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), "kubeconfig")
	kc := `apiVersion: v1
kind: Config
clusters:
- name: gone
  cluster: {server: "` + server + `", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: not-a-real-token}
contexts:
- name: gone
  context: {cluster: gone, user: u}
current-context: gone
`
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, server
}

// run executes neuroscale in the package directory (no neuroscale.yaml
// there, so the defaults apply) and returns the exit code and streams.
func run(ctx context.Context, stdin string, env []string, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := Execute(ctx, Streams{In: strings.NewReader(stdin), Out: &out, Err: &errOut}, args, env)
	return code, out.String(), errOut.String()
}

// clusterCommands are the commands that work on a running cluster, with
// what they need on standard input and their exit code when it is down.
var clusterCommands = []struct {
	args  []string
	stdin string
	code  int
}{
	{[]string{"up"}, "", 1},
	{[]string{"up", "--no-verify", "--no-forward"}, "", 1},
	{[]string{"status"}, "", 1},
	{[]string{"status", "--endpoints", "--show-password"}, "", 1},
	{[]string{"down"}, "", 1},
	{[]string{"forward"}, "", 1},
	{[]string{"forward", "backstage"}, "", 1},
	{[]string{"verify"}, "", 1},
	{[]string{"doctor"}, "", exitCouldNotCheck},
	{[]string{"secret", "set", "GITHUB_TOKEN"}, "ghp_u8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL8d\n", 1},
}

// TestUnreachableCluster: every command that needs the cluster says, the
// same way and quickly, that it cannot reach it, with a hint, for every
// -o format it accepts (which also proves the format parses).
func TestUnreachableCluster(t *testing.T) {
	t.Parallel()
	kc, server := unreachableKubeconfig(t)
	root := newRoot(&globals{viper: config.NewViper(nil)})
	for _, cc := range clusterCommands {
		cmd, _, err := root.Find(cc.args)
		if err != nil {
			t.Fatal(err)
		}
		for _, format := range formatsOf(cmd) {
			t.Run(strings.Join(cc.args, "_")+"/"+format, func(t *testing.T) {
				t.Parallel()
				// The bound the issue sets; the probe gives up after
				// cluster.ProbeTimeout (5 s) even when packets are dropped.
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				args := append(append([]string{}, cc.args...), "--kubeconfig", kc, "-o", format)
				code, stdout, stderr := run(ctx, cc.stdin, nil, args...)
				if ctx.Err() != nil {
					t.Fatalf("still running after 10 s; stderr:\n%s", stderr)
				}
				if code != cc.code {
					t.Errorf("exit %d, want %d", code, cc.code)
				}
				want := "Error: cluster unreachable: " + server + " (context gone): connection refused\n" +
					"Hint: start the cluster (neuroscale up creates a k3d one), or point --kubeconfig/--context at a running one\n"
				if cc.args[0] == "up" {
					// up's preflight lists every problem at once, this one
					// among them, with the same words.
					want = "cluster unreachable: " + server + " (context gone): connection refused\n    fix: " +
						"start the cluster (neuroscale up creates a k3d one), or point --kubeconfig/--context at a running one\n"
					if !strings.Contains(stderr, want) {
						t.Errorf("stderr:\n%s\nwant it to contain:\n%s", stderr, want)
					}
				} else if !strings.HasSuffix(stderr, want) {
					t.Errorf("stderr:\n%s\nwant it to end with:\n%s", stderr, want)
				}
				if strings.Count(stderr, "connection refused") != 1 {
					t.Errorf("the refusal is reported more than once:\n%s", stderr)
				}
				// up's -o json progress events are its standard output.
				if stdout != "" && !(cc.args[0] == "up" && format == formatJSON) {
					t.Errorf("stdout is not empty:\n%s", stdout)
				}
			})
		}
	}
}

// wantFormats is every leaf command's -o formats: the table the README and
// completion follow.
var wantFormats = map[string][]string{
	"neuroscale up":                    {"text", "json"},
	"neuroscale down":                  {"text", "json"},
	"neuroscale forward":               {"text", "json"},
	"neuroscale status":                {"text", "json", "yaml"},
	"neuroscale render":                {"text", "json", "yaml"},
	"neuroscale validate":              {"text", "json", "yaml"},
	"neuroscale bundle":                {"text", "json", "yaml"},
	"neuroscale secret set":            {"text", "json", "yaml"},
	"neuroscale secret check":          {"text", "json", "yaml"},
	"neuroscale verify":                {"text", "json", "yaml"},
	"neuroscale doctor":                {"text", "json", "yaml"},
	"neuroscale version":               {"text", "json", "yaml"},
	"neuroscale completion bash":       {"text"},
	"neuroscale completion zsh":        {"text"},
	"neuroscale completion fish":       {"text"},
	"neuroscale completion powershell": {"text"},
	"neuroscale help":                  {"text"},
	"neuroscale":                       {"text"},
}

// TestOutputFlag: each command declares its -o formats, and a value it
// does not write is a usage error listing them, before anything runs.
func TestOutputFlag(t *testing.T) {
	t.Parallel()
	root := newRoot(&globals{viper: config.NewViper(nil)})
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	var leaves []*cobra.Command
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Runnable() {
			leaves = append(leaves, c)
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	var seen []string
	for _, c := range leaves {
		path := c.CommandPath()
		seen = append(seen, path)
		want, ok := wantFormats[path]
		if !ok {
			t.Errorf("%s: no expected -o formats in wantFormats", path)
			continue
		}
		if got := formatsOf(c); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: -o formats %v, want %v", path, got, want)
		}
		t.Run(strings.ReplaceAll(path, " ", "_"), func(t *testing.T) {
			t.Parallel()
			args := append(strings.Fields(path)[1:], "-o", "xml")
			if path == "neuroscale secret set" {
				args = append(args, "GITHUB_TOKEN")
			}
			code, stdout, stderr := run(context.Background(), "", nil, args...)
			wantErr := `Error: -o "xml": ` + path + " writes " + orList(want) + "\n"
			if code != 1 || !strings.HasPrefix(stderr, wantErr) || stdout != "" {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and:\n%s", code, stderr, wantErr)
			}
		})
	}
	sort.Strings(seen)
	if len(seen) != len(wantFormats) {
		t.Errorf("commands %v, want those of wantFormats", seen)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"version"}, {"--version"}, {"version", "-o", "json"}, {"version", "-o", "yaml"}} {
		code, stdout, stderr := run(context.Background(), "", nil, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		for _, s := range []string{"k3s", "rancher/k3s:v", "cert-manager", "backstage@", "linux/", "go1."} {
			if args[len(args)-1] == "json" && s == "k3s" {
				s = "k3sImage"
			}
			if !strings.Contains(stdout, s) {
				t.Errorf("%v lacks %q:\n%s", args, s, stdout)
			}
		}
	}
}

// TestStatusEndpoints: the endpoints need no cluster, and no password is
// printed unasked.
func TestStatusEndpoints(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := run(context.Background(), "", nil, "status", "--endpoints")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, s := range []string{"backstage  http://127.0.0.1:7010", "Enter as guest", "status --show-password", "demo-iris-2:predict"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("stdout lacks %q:\n%s", s, stdout)
		}
	}
	if strings.Contains(stdout, "admin password:") {
		t.Error("a password was printed unasked")
	}
}
