package k3d

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	dockerclient "github.com/docker/docker/client"
	"sigs.k8s.io/yaml"

	"github.com/k3d-io/k3d/v5/pkg/runtimes"
	runtimeerr "github.com/k3d-io/k3d/v5/pkg/runtimes/errors"
	k3dtypes "github.com/k3d-io/k3d/v5/pkg/types"
)

// registriesLabel is the Docker label on every k3s node that records the
// hash of the registries.yaml it was created with, so a re-run can tell a
// node with today's mirror configuration from one made by an older
// neuroscale or with another cache list without opening it.
const registriesLabel = "dev.neuroscale.registries"

// configHash is the short hash of a configuration text recorded in labels.
func configHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}

// repairRegistries makes the k3s nodes of cl carry want as their
// registries.yaml (k3s reads it when it starts). Nodes whose label records
// want's hash are left alone; otherwise the file on the first server is
// read, because an earlier repair cannot change the label (Docker labels
// are fixed at creation). When its mirrors differ it is rewritten on every
// server and agent, and the differences are returned in words: the caller
// must then restart the nodes for k3s to read it.
func repairRegistries(ctx context.Context, rt runtimes.Runtime, dc dockerclient.APIClient, cl *k3dtypes.Cluster, want string) ([]string, error) {
	var nodes []*k3dtypes.Node
	for _, n := range cl.Nodes {
		if n.Role == k3dtypes.ServerRole || n.Role == k3dtypes.AgentRole {
			nodes = append(nodes, n)
		}
	}
	if len(nodes) == 0 {
		return nil, nil
	}
	wantHash := configHash(want)
	labelled := true
	for _, n := range nodes {
		// k3d's node keeps only k3d.* labels; Docker has them all.
		st, err := dc.ContainerInspect(ctx, n.Name)
		if err != nil {
			return nil, fmt.Errorf("inspect %s: %w", n.Name, err)
		}
		labelled = labelled && st.Config != nil && st.Config.Labels[registriesLabel] == wantHash
	}
	if labelled {
		return nil, nil
	}
	have, err := readNodeFile(ctx, rt, nodes[0], k3dtypes.DefaultRegistriesFilePath)
	if err != nil {
		return nil, err
	}
	// k3d writes its own rendering of the file at creation, so the mirrors
	// are compared, not the text.
	diffs := mirrorDiff(have, want)
	if len(diffs) == 0 {
		return nil, nil
	}
	for _, n := range nodes {
		if err := rt.WriteToNode(ctx, []byte(want), k3dtypes.DefaultRegistriesFilePath, 0o644, n); err != nil {
			return nil, fmt.Errorf("write %s on %s: %w", k3dtypes.DefaultRegistriesFilePath, n.Name, err)
		}
	}
	return diffs, nil
}

// readNodeFile returns the file at path in node's container; "" when it
// does not exist.
func readNodeFile(ctx context.Context, rt runtimes.Runtime, node *k3dtypes.Node, path string) (string, error) {
	rc, err := rt.ReadFromNode(ctx, path, node)
	if errors.Is(err, runtimeerr.ErrRuntimeFileNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read %s on %s: %w", path, node.Name, err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	if _, err := tr.Next(); err != nil {
		return "", fmt.Errorf("read %s on %s: %w", path, node.Name, err)
	}
	b, err := io.ReadAll(tr)
	if err != nil {
		return "", fmt.Errorf("read %s on %s: %w", path, node.Name, err)
	}
	return string(b), nil
}

// mirrorDiff says, per registry host, how the mirrors of registries.yaml
// have differ from want's; nil when they agree.
func mirrorDiff(have, want string) []string {
	h, w := mirrors(have), mirrors(want)
	hosts := make([]string, 0, len(h)+len(w))
	for k := range h {
		hosts = append(hosts, k)
	}
	for k := range w {
		if _, ok := h[k]; !ok {
			hosts = append(hosts, k)
		}
	}
	slices.Sort(hosts)
	var d []string
	for _, host := range hosts {
		hv, hok := h[host]
		wv, wok := w[host]
		switch {
		case !hok:
			d = append(d, fmt.Sprintf("mirror for %s added (%s)", host, wv))
		case !wok:
			d = append(d, fmt.Sprintf("mirror for %s removed (was %s)", host, hv))
		case hv != wv:
			d = append(d, fmt.Sprintf("mirror for %s: %s, wanted %s", host, hv, wv))
		}
	}
	return d
}

// mirrors reads registries.yaml's mirrors as host -> endpoints; an
// unreadable file has none.
func mirrors(s string) map[string]string {
	var doc struct {
		Mirrors map[string]struct {
			Endpoint []string `json:"endpoint"`
		} `json:"mirrors"`
	}
	_ = yaml.Unmarshal([]byte(s), &doc)
	out := map[string]string{}
	for host, m := range doc.Mirrors {
		out[host] = strings.Join(m.Endpoint, ", ")
	}
	return out
}
