package preflight

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/neuroscale-dev/neuroscale/internal/cluster/k3d"
	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/diag"
)

const gib = 1 << 30

// memorySlack accepts a little less than asked: Docker Desktop set to 8 GB
// reports about 7.7 GiB, the rest being its VM's kernel.
const memorySlack = 0.9

// resources compares the engine's memory and CPUs with the profile's.
func resources(e *k3d.Engine, r *config.Resolved) []Problem {
	var probs []Problem
	req := r.Requirements
	mem := float64(e.Info.MemTotal) / gib
	if req.MemoryGiB > 0 && mem < float64(req.MemoryGiB)*memorySlack {
		probs = append(probs, Problem{Severity: diag.Error, ID: "memory",
			Message: fmt.Sprintf("Docker has %.1f GiB of memory; the %s profile needs about %d GiB", mem, r.Profile, req.MemoryGiB),
			Fix:     capacityFix(e, req),
		})
	}
	if req.CPUs > 0 && e.Info.NCPU < req.CPUs {
		probs = append(probs, Problem{Severity: diag.Error, ID: "cpus",
			Message: fmt.Sprintf("Docker has %d CPUs; the %s profile needs %d", e.Info.NCPU, r.Profile, req.CPUs),
			Fix:     capacityFix(e, req),
		})
	}
	return probs
}

// capacityFix says where this kind of engine sets its memory and CPUs.
func capacityFix(e *k3d.Engine, req config.Requirements) string {
	switch e.Kind() {
	case "docker-desktop":
		return fmt.Sprintf("in Docker Desktop open Settings → Resources, set Memory to at least %d GB and CPUs to at least %d, then Apply & restart", req.MemoryGiB, req.CPUs)
	case "colima":
		return fmt.Sprintf("colima stop && colima start --memory %d --cpu %d", req.MemoryGiB, req.CPUs)
	}
	return fmt.Sprintf("Docker uses this machine's own memory and CPUs: close other programs, or use a machine with at least %d GiB and %d CPUs (Docker Desktop: Settings → Resources; colima: colima start --memory %d --cpu %d)", req.MemoryGiB, req.CPUs, req.MemoryGiB, req.CPUs)
}

// disk checks free space where images will be stored: Docker's data
// directory when the engine runs on this machine, otherwise (its disk is
// inside a VM we cannot measure) the user's cache directory, which holds
// neuroscale's downloads and bundles.
func disk(e *k3d.Engine, r *config.Resolved, log *slog.Logger) []Problem {
	need := r.Requirements.DiskGiB
	if need <= 0 {
		return nil
	}
	dir, what := "", "Docker's data directory"
	if e.Local() && e.Info.DockerRootDir != "" {
		if _, err := os.Stat(e.Info.DockerRootDir); err == nil {
			dir = e.Info.DockerRootDir
		}
	}
	if dir == "" {
		dir, what = existingAncestor(r.Sources.CacheDir), "the cache directory"
	}
	free, err := freeBytes(dir)
	if err != nil {
		log.Info("free disk space unknown", "dir", dir, "err", err)
		return nil
	}
	if free >= uint64(need)*gib {
		return nil
	}
	fix := "free some space: `docker system prune -a` removes images no container uses"
	if e.Kind() == "docker-desktop" {
		fix += "; Docker Desktop also caps its disk under Settings → Resources → Disk usage limit"
	}
	return []Problem{{
		ID: "disk", Severity: diag.Error,
		Message: fmt.Sprintf("%.1f GiB free in %s (%s); the %s profile needs about %d GiB for images", float64(free)/gib, dir, what, r.Profile, need),
		Fix:     fix,
	}}
}

// existingAncestor is p or its nearest existing parent: the cache
// directory may not exist before the first run, but its file system does.
func existingAncestor(p string) string {
	for p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(p)
		if parent == p {
			break
		}
		p = parent
	}
	return string(filepath.Separator)
}
