// Package profiles embeds the built-in profiles, dev and prod. A profile is
// a named set of defaults under the user's neuroscale.yaml: component
// values, the typed Backstage settings, the secrets it needs and the
// port-forwards it opens.
package profiles

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

//go:embed *.yaml
var files embed.FS

// Names lists the built-in profiles.
func Names() []string {
	ents, _ := fs.ReadDir(files, ".")
	var out []string
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Read returns the raw YAML of a built-in profile.
func Read(name string) ([]byte, error) {
	b, err := files.ReadFile(name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("no built-in profile %q (have %s)", name, strings.Join(Names(), ", "))
	}
	return b, nil
}
