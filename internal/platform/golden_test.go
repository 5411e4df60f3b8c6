package platform_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/neuroscale-dev/neuroscale/internal/cli"
	"github.com/neuroscale-dev/neuroscale/internal/goldentest"
	"github.com/neuroscale-dev/neuroscale/internal/porttest"
	"github.com/neuroscale-dev/neuroscale/internal/testcluster"
)

// TestUpAndStatusJSON pins what `up -o json` and `status -o json` print,
// from the command line to the test cluster: one event per phase start and
// end, the stage events inside converge, the result; then the status.
// Times and durations are normalised; everything else is compared.
func TestUpAndStatusJSON(t *testing.T) {
	c := testcluster.Get(t)
	dir := t.TempDir()
	port := porttest.Free(t)
	// ArgoCD alone: no webhooks, no needs, a few seconds on the test
	// cluster; the forward is on a free port so preflight passes anywhere.
	path := c.WriteConfig(t, filepath.Join(dir, "neuroscale.yaml"), "dev", fmt.Sprintf(`forwards:
  - {name: argocd, namespace: argocd, service: argocd-server, localPort: %d, remotePort: 443, scheme: https}
components:
  cert-manager: {enabled: false}
  knative-serving: {enabled: false}
  kourier: {enabled: false}
  kserve: {enabled: false}
  kyverno: {enabled: false}
  backstage: {enabled: false}
  demo: {enabled: false}
`, port))
	run := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		code := cli.Execute(context.Background(), cli.Streams{In: strings.NewReader(""), Out: &out, Err: &errb}, append(args, "-c", path), []string{"NO_COLOR=1"})
		if code != 0 {
			t.Fatalf("neuroscale %s: exit %d\nstderr:\n%s\nstdout:\n%s", strings.Join(args, " "), code, errb.String(), out.String())
		}
		return out.String()
	}
	goldentest.Assert(t, filepath.Join("testdata", "up.json"), normalise(t, run("up", "--no-verify", "--no-forward", "-o", "json")))
	goldentest.Assert(t, filepath.Join("testdata", "status.json"), normalise(t, run("status", "-o", "json")))
}

// normalise re-encodes each JSON document of out (one per line, or one
// indented document) with sorted keys, times as "T", durations as 0
// and the forward's local port as PORT. Download progress events in
// between a download's start and end are dropped: how many there are
// depends on how the reads of a file happen to be cut.
func normalise(t *testing.T, out string) []byte {
	t.Helper()
	var b bytes.Buffer
	dec := json.NewDecoder(bufio.NewReader(strings.NewReader(out)))
	for dec.More() {
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
		if m, ok := v.(map[string]any); ok && m["phase"] == "download" && m["state"] == "running" && m["total_bytes"] != nil {
			continue
		}
		line, err := json.Marshal(scrub(v))
		if err != nil {
			t.Fatal(err)
		}
		b.Write(append(line, '\n'))
	}
	return b.Bytes()
}

var localPort = regexp.MustCompile(`127\.0\.0\.1:[0-9]+`)

func scrub(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			switch k {
			case "time", "lastApplied":
				x[k] = "T"
			case "duration_s":
				x[k] = 0
			case "url":
				// The forward's port is picked free for the test.
				x[k] = localPort.ReplaceAllString(fmt.Sprint(e), "127.0.0.1:PORT")
			default:
				x[k] = scrub(e)
			}
		}
	case []any:
		for i := range x {
			x[i] = scrub(x[i])
		}
	}
	return v
}
