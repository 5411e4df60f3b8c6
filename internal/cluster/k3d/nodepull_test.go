package k3d

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/neuroscale-dev/neuroscale/internal/cluster/k3d/dockertest"
	"github.com/neuroscale-dev/neuroscale/internal/prepull"
	"github.com/neuroscale-dev/neuroscale/internal/prepull/prepulltest"
)

// TestNodePullerPrePulls pre-pulls the rendered platform's images, two at
// a time, into a running cluster's node through the Docker fake: `crictl
// pull` runs in the server node once for exactly each rendered image the
// node lacks, never more than two at once, the image the node already has
// is not pulled, and one the registry refuses is a warning that does not
// stop the others.
func TestNodePullerPrePulls(t *testing.T) {
	refs := prepull.Refs(prepull.Images(prepulltest.Platform(t)))
	present, refused := refs[1], refs[len(refs)-1]
	const limit = 2
	var (
		mu       sync.Mutex
		onNode   = map[string]bool{present: true}
		inFlight int
		maxSeen  int
		pulls    []string
		full     = make(chan struct{})
		fullOnce sync.Once
	)
	d := dockertest.Start(t, clusterDaemon("neuroscale"))
	d.SetExecResult(func(e dockertest.Exec) (int, string) {
		if e.Container != "k3d-neuroscale-server-0" || len(e.Cmd) < 3 || e.Cmd[0] != "crictl" {
			return 2, fmt.Sprintf("unexpected exec %s %q", e.Container, e.Cmd)
		}
		ref := e.Cmd[len(e.Cmd)-1]
		switch e.Cmd[1] {
		case "inspecti":
			mu.Lock()
			defer mu.Unlock()
			if !onNode[ref] {
				return 1, "FATA[0000] no such image " + ref + " present"
			}
			return 0, `{"status":{"id":"sha256:1","size":"1000000"}}`
		case "pull":
			mu.Lock()
			pulls = append(pulls, ref)
			inFlight++
			maxSeen = max(maxSeen, inFlight)
			if inFlight == limit {
				fullOnce.Do(func() { close(full) })
			}
			mu.Unlock()
			// Hold the first pulls until as many as allowed run at once.
			<-full
			mu.Lock()
			defer mu.Unlock()
			inFlight--
			if ref == refused {
				return 1, "FATA[0001] pulling image: rpc error: code = NotFound"
			}
			onNode[ref] = true
			return 0, "Image is up to date for sha256:1"
		}
		return 2, "unexpected crictl " + e.Cmd[1]
	})

	np, err := NewNodePuller(context.Background(), "neuroscale")
	if err != nil {
		t.Fatal(err)
	}
	defer np.Close()
	var reports []prepull.Status
	res := prepull.Run(context.Background(), np, refs, prepull.Options{Parallel: limit, Report: func(s prepull.Status) { reports = append(reports, s) }})

	slices.Sort(pulls)
	want := slices.DeleteFunc(slices.Clone(refs), func(r string) bool { return r == present })
	slices.Sort(want)
	if !slices.Equal(pulls, want) {
		t.Errorf("crictl pull ran for %q, want once for each image the node lacks %q", pulls, want)
	}
	if maxSeen != limit {
		t.Errorf("%d pulls ran at once, want %d", maxSeen, limit)
	}
	if n := int64(len(refs) - 1); res.Pulled != int(n) || res.Bytes != n*1_000_000 {
		t.Errorf("pulled %d images, %d bytes; want %d and %d (sizes from crictl inspecti)", res.Pulled, res.Bytes, n, n*1_000_000)
	}
	var perr *prepull.PullError
	if len(res.Failed) != 1 || !errors.As(res.Failed[0], &perr) || perr.Image != refused {
		t.Errorf("failures %v, want the missing image only", res.Failed)
	}
	if len(reports) != len(refs) || reports[len(reports)-1].Done != len(refs) || reports[len(reports)-1].Failed != 1 {
		t.Errorf("reports %+v, want one per image ending at %d done, 1 failed", reports, len(refs))
	}
}
