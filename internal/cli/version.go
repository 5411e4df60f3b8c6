package cli

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/neuroscale-dev/neuroscale/internal/catalog"
	"github.com/neuroscale-dev/neuroscale/internal/config"
)

// version is set at build time with -ldflags "-X ...cli.version=v1.2.3";
// otherwise the module version or the VCS revision the Go toolchain
// stamped into the binary is shown.
var version = "dev"

// VersionInfo is what `neuroscale version` reports: the binary, how it was
// built, and every version it installs, so a bug report carries them all.
type VersionInfo struct {
	Version string `json:"version"`
	// Commit is the VCS revision the binary was built from; Modified says
	// the work tree had uncommitted changes.
	Commit     string `json:"commit"`
	CommitTime string `json:"commitTime,omitempty"`
	Modified   bool   `json:"modified,omitempty"`
	Go         string `json:"go"`
	Platform   string `json:"platform"`
	// K3d is the k3d library built in; K3sImage the node image it starts.
	K3d      string `json:"k3d"`
	Helm     string `json:"helm"`
	K3sImage string `json:"k3sImage"`
	// Components are the catalog's pins, in install order.
	Components []ComponentVersion `json:"components"`
}

// ComponentVersion is one component's pinned version and its parts.
type ComponentVersion struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	// Charts are "chart@version" for each Helm chart the component installs.
	Charts []string `json:"charts,omitempty"`
}

// readVersion gathers VersionInfo from the build information the Go
// toolchain embeds and from the embedded catalog.
func readVersion() (VersionInfo, error) {
	v := VersionInfo{Version: version, Commit: "unknown", Go: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH, K3sImage: config.DefaultK3sImage}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v.Go = bi.GoVersion
		if v.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Commit = s.Value
			case "vcs.time":
				v.CommitTime = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
		for _, d := range bi.Deps {
			switch d.Path {
			case "github.com/k3d-io/k3d/v5":
				v.K3d = d.Version
			case "helm.sh/helm/v3", "helm.sh/helm/v4":
				v.Helm = d.Version
			}
		}
	}
	cat, err := catalog.Load()
	if err != nil {
		return v, err
	}
	for _, c := range cat.Components {
		cv := ComponentVersion{Name: c.Name, Version: c.Version}
		for _, s := range c.Steps {
			if s.Chart != nil {
				cv.Charts = append(cv.Charts, s.Chart.Name+"@"+s.Chart.Version)
			}
		}
		v.Components = append(v.Components, cv)
	}
	return v, nil
}

// writeText writes v as aligned lines, the binary first.
func (v VersionInfo) writeText(w io.Writer) error {
	commit := v.Commit
	if v.Modified {
		commit += " (modified)"
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "neuroscale\t%s\n", v.Version)
	fmt.Fprintf(tw, "commit\t%s\n", commit)
	fmt.Fprintf(tw, "go\t%s %s\n", v.Go, v.Platform)
	fmt.Fprintf(tw, "k3d\t%s\n", dash(v.K3d))
	fmt.Fprintf(tw, "helm\t%s\n", dash(v.Helm))
	fmt.Fprintf(tw, "k3s image\t%s\n", v.K3sImage)
	for _, c := range v.Components {
		line := c.Name + "\t" + dash(c.Version)
		if len(c.Charts) > 0 {
			line += "\t" + strings.Join(c.Charts, " ")
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print neuroscale's version, build and every pinned component version",
		Long: "version prints the binary's version and commit, the Go version and platform it was built for, " +
			"the k3d and Helm libraries built in, the k3s node image, and each component's pinned version " +
			"and charts from the embedded catalog. --version prints the same text.",
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error { return printVersion(g) },
	}
}

// printVersion is `neuroscale version` and `neuroscale --version`.
func printVersion(g *globals) error {
	v, err := readVersion()
	if err != nil {
		return err
	}
	if g.structured() {
		return g.writeResult(v)
	}
	return v.writeText(g.streams.Out)
}
