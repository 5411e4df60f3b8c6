package k3d

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	dockerclient "github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/docker/docker/pkg/stdcopy"

	k3dclient "github.com/k3d-io/k3d/v5/pkg/client"
	"github.com/k3d-io/k3d/v5/pkg/runtimes"
	"github.com/k3d-io/k3d/v5/pkg/runtimes/docker"
	k3dtypes "github.com/k3d-io/k3d/v5/pkg/types"
)

// pullImages pulls every image of imgs that Docker does not have yet, one
// after the other, reporting bytes per image. It runs before k3d's
// cluster-creation timeout starts: k3d pulls what is missing inside it,
// and on a conference network the k3s image alone can take longer than
// that timeout, which rolls the cluster back. An interrupted pull is not
// lost: Docker keeps every layer it completed, so the next `up` fetches
// only the rest.
func (p *Provider) pullImages(ctx context.Context, dc dockerclient.APIClient, imgs []Image) error {
	for _, img := range imgs {
		_, err := dc.ImageInspect(ctx, img.Ref)
		if err == nil {
			p.log.Debug("image present", "image", img.Ref)
			continue
		}
		if !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("inspect image %s: %w", img.Ref, err)
		}
		if err := p.pull(ctx, dc, img); err != nil {
			return err
		}
	}
	return nil
}

// pull pulls one image, printing its progress to Options.Progress (or the
// logger at info level without one).
func (p *Provider) pull(ctx context.Context, dc dockerclient.APIClient, img Image) error {
	p.progressf("pulling %s image %s", img.Role, img.Ref)
	rc, err := dc.ImagePull(ctx, img.Ref, image.PullOptions{})
	if err != nil {
		return &PullError{Image: img.Ref, Err: err}
	}
	defer rc.Close()
	pr := newPullProgress(func(done, total int64) {
		p.progressf("pulling %s image %s: %s of %s", img.Role, img.Ref, mb(done), mb(total))
	})
	dec := json.NewDecoder(rc)
	for {
		var m jsonmessage.JSONMessage
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			// The stream breaks when ctx ends or the daemon goes away.
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return &PullError{Image: img.Ref, Err: err}
		}
		if m.Error != nil {
			return &PullError{Image: img.Ref, Err: m.Error}
		}
		pr.add(m)
	}
	p.progressf("pulled %s image %s: %s downloaded, %d layer(s) already present", img.Role, img.Ref, mb(pr.done()), pr.reused)
	return nil
}

// progressf reports progress on the progress writer, or in the log.
func (p *Provider) progressf(format string, args ...any) {
	if p.opts.Progress != nil {
		fmt.Fprintf(p.opts.Progress, format+"\n", args...)
		return
	}
	p.log.Info(fmt.Sprintf(format, args...))
}

// pullProgress sums Docker's per-layer pull messages into bytes for the
// whole image and calls report each time another tenth of what is known
// so far has arrived, so a slow pull shows it moves without flooding the
// terminal.
type pullProgress struct {
	layers map[string][2]int64 // id -> current, total
	reused int
	last   int64
	report func(done, total int64)
}

func newPullProgress(report func(done, total int64)) *pullProgress {
	return &pullProgress{layers: map[string][2]int64{}, report: report}
}

func (pp *pullProgress) add(m jsonmessage.JSONMessage) {
	switch {
	case m.Status == "Already exists":
		pp.reused++
		return
	case m.Status == "Downloading" && m.Progress != nil && m.Progress.Total > 0:
		pp.layers[m.ID] = [2]int64{m.Progress.Current, m.Progress.Total}
	case m.Status == "Download complete":
		if l, ok := pp.layers[m.ID]; ok {
			pp.layers[m.ID] = [2]int64{l[1], l[1]}
		}
	default:
		return
	}
	done, total := pp.done(), pp.total()
	if total > 0 && (done-pp.last)*10 >= total {
		pp.last = done
		pp.report(done, total)
	}
}

func (pp *pullProgress) done() (n int64) {
	for _, l := range pp.layers {
		n += l[0]
	}
	return n
}

func (pp *pullProgress) total() (n int64) {
	for _, l := range pp.layers {
		n += l[1]
	}
	return n
}

// mb formats a byte count in megabytes.
func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

// PullError is an image that could not be pulled before creating the
// cluster.
type PullError struct {
	Image string
	Err   error
}

// Error names the image.
func (e *PullError) Error() string { return fmt.Sprintf("pull image %s: %v", e.Image, e.Err) }

// Unwrap returns Docker's error.
func (e *PullError) Unwrap() error { return e.Err }

// Hint says that the next run resumes and how to work offline.
func (e *PullError) Hint() string {
	return "run `neuroscale up` again: Docker keeps the layers it finished, so the pull resumes; offline, `docker load` the image (or pass a `neuroscale bundle` archive) first"
}

// NodePuller pulls images straight into the containerd of every node of a
// running k3d cluster, with the node's own `crictl pull` run through the
// Docker exec API: containerd then goes through the same registries.yaml
// mirrors (the pull-through caches) as the kubelet, so what it fetches is
// cached for the next cluster too, and a pod that needs the image later
// finds it on its node.
type NodePuller struct {
	dc    dockerclient.APIClient
	nodes []string
}

// NewNodePuller returns the puller for the named cluster's server and
// agent nodes. Close it when done.
func NewNodePuller(ctx context.Context, cluster string) (*NodePuller, error) {
	dc, err := docker.GetDockerClient()
	if err != nil {
		return nil, &DockerUnavailableError{Err: err}
	}
	cl, err := k3dclient.ClusterGet(ctx, runtimes.Docker, &k3dtypes.Cluster{Name: cluster})
	if err != nil {
		dc.Close()
		return nil, fmt.Errorf("look up k3d cluster %s: %w", cluster, err)
	}
	np := &NodePuller{dc: dc}
	for _, n := range cl.Nodes {
		if n.Role == k3dtypes.ServerRole || n.Role == k3dtypes.AgentRole {
			np.nodes = append(np.nodes, n.Name)
		}
	}
	if len(np.nodes) == 0 {
		dc.Close()
		return nil, fmt.Errorf("k3d cluster %s has no server or agent node", cluster)
	}
	return np, nil
}

// Close releases the Docker client.
func (np *NodePuller) Close() error { return np.dc.Close() }

// Pull pulls ref on every node unless the node has it, and returns the
// image's size on a node as containerd reports it (unpacked layers).
func (np *NodePuller) Pull(ctx context.Context, ref string) (int64, error) {
	var size int64
	for _, node := range np.nodes {
		n, err := np.pullOn(ctx, node, ref)
		if err != nil {
			return 0, fmt.Errorf("node %s: %w", node, err)
		}
		size = n
	}
	return size, nil
}

func (np *NodePuller) pullOn(ctx context.Context, node, ref string) (int64, error) {
	if n, ok := np.inspect(ctx, node, ref); ok {
		return n, nil
	}
	code, out, err := execIn(ctx, np.dc, node, []string{"crictl", "pull", ref})
	if err != nil {
		return 0, err
	}
	if code != 0 {
		return 0, fmt.Errorf("crictl pull exited %d: %s", code, strings.TrimSpace(out))
	}
	n, _ := np.inspect(ctx, node, ref)
	return n, nil
}

// inspect asks the node's containerd whether it has ref, and its size.
func (np *NodePuller) inspect(ctx context.Context, node, ref string) (int64, bool) {
	code, out, err := execIn(ctx, np.dc, node, []string{"crictl", "inspecti", "-o", "json", ref})
	if err != nil || code != 0 {
		return 0, false
	}
	return imageSize(out), true
}

// imageSize reads status.size from `crictl inspecti -o json`, which
// writes the CRI's uint64 as a JSON string; 0 when it is not there.
func imageSize(out string) int64 {
	var v struct {
		Status struct {
			Size json.RawMessage `json:"size"`
		} `json:"status"`
	}
	if json.Unmarshal([]byte(out), &v) != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.Trim(string(v.Status.Size), `"`), 10, 64)
	return n
}

// execIn runs cmd in the container and returns its exit code and its
// standard output and error together.
func execIn(ctx context.Context, dc dockerclient.APIClient, name string, cmd []string) (int, string, error) {
	ex, err := dc.ContainerExecCreate(ctx, name, container.ExecOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return 0, "", fmt.Errorf("exec in %s: %w", name, err)
	}
	att, err := dc.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		return 0, "", fmt.Errorf("exec in %s: %w", name, err)
	}
	defer att.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, att.Reader); err != nil {
		return 0, "", fmt.Errorf("exec in %s: %w", name, err)
	}
	st, err := dc.ContainerExecInspect(ctx, ex.ID)
	if err != nil {
		return 0, "", fmt.Errorf("exec in %s: %w", name, err)
	}
	return st.ExitCode, out.String(), nil
}
