package testcluster

import (
	"fmt"
	"os/exec"
	"path/filepath"
)

// WithReal runs the named parts of the platform for real beside the
// simulated pods (scripts/testcluster start --real=LIST). "backstage" runs
// the real Backstage backend (test/backstage) for every Backstage pod, with
// the config, files and environment that pod mounts, and a real PostgreSQL
// for the chart's PostgreSQL pod; the pod's port-forward and logs reach
// it. Use CanRunReal first to skip where the tools are missing.
func WithReal(names ...string) Option {
	return func(o *options) { o.real = append(o.real, names...) }
}

// CanRunReal reports why the named real parts cannot run on this machine,
// or "" if they can; tests skip with that reason. CI installs what they
// need (see .ci/run), so there they run.
func CanRunReal(names ...string) string {
	if why := CanBuild(); why != "" {
		return why
	}
	for _, n := range names {
		switch n {
		case "backstage":
			for _, tool := range []string{"node", "npm"} {
				if _, err := exec.LookPath(tool); err != nil {
					return fmt.Sprintf("%s not found on PATH: real Backstage needs Node 20 or 22 and npm", tool)
				}
			}
			if !havePostgres() {
				return "PostgreSQL not found (initdb): real Backstage needs it for the chart's PostgreSQL pod; apt-get install -y postgresql"
			}
		}
	}
	return ""
}

func havePostgres() bool {
	if _, err := exec.LookPath("initdb"); err == nil {
		return true
	}
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	return len(m) > 0
}
