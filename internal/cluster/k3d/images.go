package k3d

import (
	"runtime/debug"
	"strings"

	k3dtypes "github.com/k3d-io/k3d/v5/pkg/types"
	k3dversion "github.com/k3d-io/k3d/v5/version"
)

// k3dModule is the k3d library's module path, looked up in the build info
// to learn which k3d this binary was built with.
const k3dModule = "github.com/k3d-io/k3d/v5"

// fallbackK3dVersion is the k3d version go.mod requires; used only when the
// binary carries no build info (TestK3dVersionMatchesGoMod keeps it true).
const fallbackK3dVersion = "v5.9.0"

// The k3d CLI gets its version stamped in at link time, and k3d derives
// the tag of its helper images (k3d-proxy, k3d-tools) from it. Used as a
// library the version is empty, so those images would run at :latest: not
// pinned, and a future proxy might not read v5.9.0's config. Setting it
// here, before any cluster is built, pins them to the k3d we link.
func init() {
	if k3dversion.Version == "" {
		k3dversion.Version = k3dVersion()
	}
	// k3d computed this label from the empty version at its own init.
	k3dtypes.DefaultRuntimeLabelsVar["k3d.version"] = k3dversion.GetVersion()
}

// k3dVersion is the version of the k3d module linked into this binary.
func k3dVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == k3dModule {
				if d.Replace != nil && strings.HasPrefix(d.Replace.Version, "v") {
					return d.Replace.Version
				}
				if strings.HasPrefix(d.Version, "v") && d.Version != "(devel)" {
					return d.Version
				}
			}
		}
	}
	return fallbackK3dVersion
}

// Image roles in a cluster plan and in pull progress.
const (
	ImageK3s      = "k3s"
	ImageProxy    = "proxy"
	ImageTools    = "tools"
	ImageRegistry = "registry"
)

// Image is one image the cluster runs, with what it is for.
type Image struct {
	// Role is ImageK3s, ImageProxy, ImageTools or ImageRegistry.
	Role string `json:"role"`
	// Ref is the full reference, tag included.
	Ref string `json:"image"`
}

// Images lists every image a cluster built from r needs, in the order they
// are pulled: the k3s node image, k3d's load balancer and tools images
// (at the linked k3d's tag, unless K3D_IMAGE_* overrides them) and, with
// the image cache on, the cache's registry image.
func Images(k3sImage string, cache bool) []Image {
	out := []Image{
		{Role: ImageK3s, Ref: k3sImage},
		{Role: ImageProxy, Ref: k3dtypes.GetLoadbalancerImage()},
		{Role: ImageTools, Ref: k3dtypes.GetToolsImage()},
	}
	if cache {
		out = append(out, Image{Role: ImageRegistry, Ref: RegistryImage})
	}
	return out
}
