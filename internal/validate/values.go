package validate

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart"

	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/content"
	"github.com/neuroscale-dev/neuroscale/internal/render"
)

// unusedValues reports values keys a chart never reads. Helm ignores
// them silently, which is how the seed platform's Backstage probes, one
// level too high, never reached the Deployment.
func (c *check) unusedValues() {
	if c.p == nil {
		return
	}
	for _, comp := range c.p.Components {
		for _, s := range comp.Steps {
			if s.Kind != render.StepChart || len(s.Values) == 0 {
				continue
			}
			chrt, err := s.LoadChart()
			if err != nil {
				// Render loaded this very archive; a chart gone since is
				// for install to report.
				continue
			}
			schema := newChartSchema(chrt)
			takesComponent := content.ValuesChart(comp.Name) == chrt.Name()
			for _, u := range schema.unused(s.Values) {
				f := Finding{ID: RuleValuesUnused, Severity: Error,
					Object: fmt.Sprintf("chart %s (release %s)", chrt.Name(), s.Name),
					Path:   strings.Join(u.path, "."),
					Message: fmt.Sprintf("the %s chart does not read %s: Helm ignores it without a word",
						chrt.Name(), strings.Join(u.path, ".")),
				}
				if takesComponent {
					f.Position = c.valuesPos(comp.Name, u.path...)
				}
				switch {
				case len(u.belongs) > 0:
					f.Message += fmt.Sprintf("; it probably belongs at %s", strings.Join(u.belongs, " or "))
					f.Fix = fmt.Sprintf("move it under components.%s.values.%s", comp.Name, u.belongs[0])
				case u.closest != "":
					f.Fix = fmt.Sprintf("did you mean %s?", u.closest)
				default:
					f.Fix = fmt.Sprintf("remove it, or check the %s chart's values.yaml for the right key", s.Chart.Name())
				}
				c.add(f)
			}
		}
	}
}

// chartSchema is what a chart reads: the keys of its default values, of
// its subcharts' (under their aliases), and the .Values paths its
// templates name (charts read keys their values.yaml only documents in
// comments).
type chartSchema struct {
	defaults map[string]any
	refs     *refNode
	subs     map[string]*chartSchema
}

// refNode is a trie of .Values paths named by templates.
type refNode struct {
	kids map[string]*refNode
}

func (n *refNode) child(k string) *refNode {
	if n == nil {
		return nil
	}
	return n.kids[k]
}

// add records path in the trie.
func (n *refNode) add(path []string) {
	for _, k := range path {
		if n.kids == nil {
			n.kids = map[string]*refNode{}
		}
		if n.kids[k] == nil {
			n.kids[k] = &refNode{}
		}
		n = n.kids[k]
	}
}

// leaf reports whether templates use this path whole (toYaml and the
// like), so anything below it is passed through.
func (n *refNode) leaf() bool { return n != nil && len(n.kids) == 0 }

var valuesRef = regexp.MustCompile(`\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)`)

func newChartSchema(ch *chart.Chart) *chartSchema {
	s := &chartSchema{defaults: ch.Values, refs: &refNode{}, subs: map[string]*chartSchema{}}
	for _, t := range ch.Templates {
		for _, m := range valuesRef.FindAllStringSubmatch(string(t.Data), -1) {
			s.refs.add(strings.Split(strings.TrimPrefix(m[1], "."), "."))
		}
	}
	alias := map[string]string{}
	if ch.Metadata != nil {
		for _, d := range ch.Metadata.Dependencies {
			if d.Alias != "" {
				alias[d.Name] = d.Alias
			}
			// Helm itself reads a dependency's condition (postgresql.enabled).
			for _, cond := range strings.Split(d.Condition, ",") {
				if cond = strings.TrimSpace(cond); cond != "" {
					s.refs.add(strings.Split(cond, "."))
				}
			}
		}
	}
	for _, sub := range ch.Dependencies() {
		key := sub.Name()
		if a, ok := alias[key]; ok {
			key = a
		}
		s.subs[key] = newChartSchema(sub)
	}
	return s
}

// unusedKey is one values key nobody reads.
type unusedKey struct {
	path []string
	// belongs lists where a key of that name is read.
	belongs []string
	// closest is a similarly spelt sibling.
	closest string
}

// unused returns the keys of values the chart does not read; below an
// unread key nothing more is reported.
func (s *chartSchema) unused(values map[string]any) []unusedKey {
	var out []unusedKey
	var walk func(m map[string]any, path []string)
	walk = func(m map[string]any, path []string) {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			p := append(append([]string(nil), path...), k)
			if !s.consumes(p) {
				out = append(out, unusedKey{path: p, belongs: s.find(k, p), closest: s.closest(p)})
				continue
			}
			if sub, ok := m[k].(map[string]any); ok {
				walk(sub, p)
			}
		}
	}
	walk(values, nil)
	return out
}

// consumes reports whether the chart or one of its subcharts reads path.
func (s *chartSchema) consumes(path []string) bool {
	if len(path) == 0 || path[0] == "global" || s.own(path) {
		return true
	}
	if sub, ok := s.subs[path[0]]; ok {
		return len(path) == 1 || sub.consumes(path[1:])
	}
	return false
}

// own reports whether this chart itself (not a subchart) reads path:
// its defaults or its templates name it, or an ancestor is free-form (an
// empty map such as appConfig: {}) or used whole by a template.
func (s *chartSchema) own(path []string) bool {
	d, n := s.defaults, s.refs
	for _, k := range path {
		dv, inDefaults := d[k]
		ref := n.child(k)
		if !inDefaults && ref == nil {
			return false
		}
		if ref.leaf() {
			return true
		}
		dm, _ := dv.(map[string]any)
		if len(dm) == 0 && (ref == nil || len(ref.kids) == 0) {
			return true
		}
		d, n = dm, ref
	}
	return true
}

// closest returns a key read next to path's last key within two edits.
func (s *chartSchema) closest(path []string) string {
	if sub, ok := s.subs[path[0]]; ok && len(path) > 1 {
		if c := sub.closest(path[1:]); c != "" {
			return path[0] + "." + c
		}
	}
	d, n := s.defaults, s.refs
	for _, k := range path[:len(path)-1] {
		d, _ = d[k].(map[string]any)
		n = n.child(k)
	}
	cands := slices.Sorted(maps.Keys(d))
	if n != nil {
		cands = append(cands, slices.Sorted(maps.Keys(n.kids))...)
	}
	if len(path) == 1 {
		cands = append(cands, slices.Sorted(maps.Keys(s.subs))...)
	}
	k := strings.ToLower(path[len(path)-1])
	best, bestD := "", 3
	for _, c := range cands {
		if d := config.Levenshtein(k, strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" {
		return ""
	}
	return strings.Join(append(append([]string(nil), path[:len(path)-1]...), best), ".")
}

// find returns the shortest paths, other than at, where the chart (or a
// subchart) reads a key named key.
func (s *chartSchema) find(key string, at []string) []string {
	var found []string
	var search func(m map[string]any, prefix string, depth int)
	search = func(m map[string]any, prefix string, depth int) {
		if depth > 6 {
			return
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			p := prefix + k
			if k == key && p != strings.Join(at, ".") {
				found = append(found, p)
			}
			if sub, ok := m[k].(map[string]any); ok {
				search(sub, p+".", depth+1)
			}
		}
	}
	// The chart's own keys first: a subchart repeats common names
	// (startupProbe, resources) for each of its workloads.
	own := map[string]any{}
	for k, v := range s.defaults {
		// Helm copies subchart defaults into the parent's values;
		// those are searched below, after the chart's own keys.
		if _, sub := s.subs[k]; !sub {
			own[k] = v
		}
	}
	search(own, "", 0)
	if len(found) == 0 {
		for _, name := range slices.Sorted(maps.Keys(s.subs)) {
			search(s.subs[name].defaults, name+".", 1)
		}
	}
	// A key read in many places (enabled, image) says nothing about
	// where this one was meant to go.
	if len(found) > 3 {
		return nil
	}
	sort.SliceStable(found, func(i, j int) bool { return strings.Count(found[i], ".") < strings.Count(found[j], ".") })
	if len(found) > 2 {
		found = found[:2]
	}
	return found
}
