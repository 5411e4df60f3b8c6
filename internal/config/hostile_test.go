package config

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

const header = "apiVersion: neuroscale.dev/v1alpha1\nkind: Platform\n"

// hostileDeadline is generous on purpose: it is the failure signal for a
// file that would take minutes, not a timing assertion.
const hostileDeadline = 20 * time.Second

// loadHostile loads a config within hostileDeadline and fails the test if
// that deadline, not a limit, is what stopped it.
func loadHostile(t *testing.T, path string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hostileDeadline)
	defer cancel()
	_, err := LoadContext(ctx, LoadOptions{Path: path})
	if ctx.Err() != nil {
		t.Fatalf("loading %s was still running after %s: no limit stopped it", path, hostileDeadline)
	}
	if err == nil {
		t.Fatalf("loading %s succeeded; want it rejected", path)
	}
	return err
}

// writeGenerated writes a generated file into a temporary directory: the
// large ones are not committed.
func writeGenerated(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// manyKeys is a file of n top-level keys.
func manyKeys(n int, width int) string {
	var b strings.Builder
	b.WriteString(header)
	for i := range n {
		fmt.Fprintf(&b, "k%0*d: 1\n", width, i)
	}
	return b.String()
}

// TestHostileConfigs is the hostile corpus: each file is rejected quickly,
// with its position and the limit or rule it broke.
func TestHostileConfigs(t *testing.T) {
	t.Parallel()
	flowKeys := func() string {
		var b strings.Builder
		b.WriteString(header + "components:\n  demo:\n    values: {")
		for i := range 5000 {
			fmt.Fprintf(&b, "k%d: 1, ", i)
		}
		b.WriteString("}\n")
		return b.String()
	}
	tests := []struct {
		name string
		// file is under testdata/hostile, or gen generates it.
		file string
		gen  func() string
		want []string
	}{
		{name: "alias bomb", file: "alias-bomb.yaml", want: []string{"alias-bomb.yaml:11:14: aliases expand to more than 100000 values, the limit"}},
		{name: "5 MB of 262k keys", gen: func() string { return manyKeys(262144, 6) }, want: []string{"gen.yaml:23829:8: the file is larger than 256 KiB, the limit for a config file"}},
		{name: "25k keys in one mapping", gen: func() string { return manyKeys(25000, 5) }, want: []string{"gen.yaml:2001:1: a mapping has more than 2000 keys, the limit"}},
		{name: "5000 keys in a flow mapping", gen: flowKeys, want: []string{"gen.yaml:5:", "a mapping has more than 2000 keys, the limit"}},
		{name: "20k-deep flow nesting", gen: func() string {
			return header + "components:\n  demo:\n    values:\n      x: " + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + "\n"
		}, want: []string{"gen.yaml:6:", "values are nested more than 64 levels deep, the limit"}},
		{name: "20k-deep block nesting", gen: func() string {
			return header + "forwards:\n" + strings.Repeat("- ", 20000) + "x\n"
		}, want: []string{"gen.yaml:4:", "values are nested more than 64 levels deep, the limit"}},
		{name: "non-string key in a flow block", file: "nonstring-backstage.yaml", want: []string{`nonstring-backstage.yaml:3:23: key "123" is a number, not a string`}},
		{name: "non-string keys in components", file: "nonstring-component.yaml", want: []string{
			`nonstring-component.yaml:6:5: key "123" is a number, not a string`,
			`nonstring-component.yaml:9:7: key "true" is a boolean, not a string`,
			`nonstring-component.yaml:10:7: key "null" is null, not a string`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join("testdata", "hostile", tt.file)
			if tt.gen != nil {
				path = writeGenerated(t, "gen.yaml", tt.gen())
			}
			err := loadHostile(t, path)
			msg := err.Error()
			if len(msg) > 4096 {
				t.Errorf("the error is %d bytes long; values must be quoted short", len(msg))
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not contain %q:\n%.2000s", w, msg)
				}
			}
		})
	}
}

// TestLongValueQuotedShort: a huge value is cut in the message.
func TestLongValueQuotedShort(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("k3s", 30000)
	path := writeGenerated(t, "long.yaml", header+"cluster:\n  provider: "+long+"\n  "+long[:1000]+": x\n")
	err := loadHostile(t, path)
	if len(err.Error()) > 1000 {
		t.Fatalf("the error is %d bytes long:\n%.2000s", len(err.Error()), err)
	}
	if !strings.Contains(err.Error(), "long.yaml:5:3: unknown key") || !strings.Contains(err.Error(), "(1000 bytes)") {
		t.Errorf("want the unknown key quoted short at its position, got:\n%v", err)
	}
	path = writeGenerated(t, "long.yaml", header+"cluster:\n  provider: "+long+"\n")
	err = loadHostile(t, path)
	if len(err.Error()) > 1000 || !strings.Contains(err.Error(), "config: cluster.provider \"k3sk3s") || !strings.Contains(err.Error(), "(90000 bytes) is not known (at "+path+":4:13)") {
		t.Errorf("want the provider quoted short at its position, got:\n%.2000s", err)
	}
}

// positioned is what every decoding error line starts with.
var positioned = regexp.MustCompile(`^[^:\s]+\.yaml:\d+:\d+: `)

// TestEveryDecodeErrorHasAPosition covers the errors that used to come
// without file:line:column: syntax errors at the end of the file, headers
// and profiles.
func TestEveryDecodeErrorHasAPosition(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"unclosed flow":           header + "cluster: {provider: k3d\n",
		"unclosed sequence":       header + "forwards: [\n",
		"unterminated quote":      header + "profile: \"dev\n",
		"tab indentation":         header + "cluster:\n\tprovider: k3d\n",
		"missing header":          "profile: dev\n",
		"wrong header":            "apiVersion: v1\nkind: Pod\n",
		"two documents":           header + "---\n" + header,
		"scalar document":         "just a string\n",
		"unknown profile":         header + "profile: staging\n",
		"profile without extends": header + "profile: mine\nprofiles:\n  mine:\n    description: x\n",
		"profile extends cycle":   header + "profile: a\nprofiles:\n  a:\n    extends: b\n  b:\n    extends: a\n",
		"profile extends unknown": header + "profile: a\nprofiles:\n  a:\n    extends: nope\n",
		"only a comment":          "# nothing\n",
		"anchor to nothing":       header + "profile: *nope\n",
	}
	for name, src := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := loadHostile(t, writeGenerated(t, "c.yaml", src))
			for _, line := range strings.Split(err.Error(), "\n") {
				if !positioned.MatchString(line) {
					t.Errorf("error line without file:line:column: %q\nwhole error:\n%v", line, err)
				}
			}
		})
	}
}

// blockingReader never returns, like a terminal nobody types into.
type blockingReader struct{ unblock chan struct{} }

func (r blockingReader) Read([]byte) (int, error) {
	<-r.unblock
	return 0, io.EOF
}

// TestLoadStopsWhenCancelled: Ctrl-C or SIGTERM ends the command even while
// the configuration is still being read.
func TestLoadStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	in := blockingReader{unblock: make(chan struct{})}
	defer close(in.unblock)
	ctx, cancel := context.WithCancelCause(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := LoadContext(ctx, LoadOptions{Path: "-", Stdin: in})
		errc <- err
	}()
	stop := errors.New("interrupted")
	cancel(stop)
	select {
	case err := <-errc:
		if !errors.Is(err, stop) {
			t.Fatalf("LoadContext returned %v; want the cancellation cause", err)
		}
	case <-time.After(hostileDeadline):
		t.Fatal("LoadContext did not return after its context was cancelled")
	}
}
