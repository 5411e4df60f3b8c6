package config

import (
	"fmt"
	"strconv"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
	"github.com/neuroscale-dev/neuroscale/internal/diag"
)

// yaml11Bools are the plain scalars YAML 1.1 reads as booleans and YAML
// 1.2 (this file's decoder) as strings; true/false and their case variants
// are booleans in both. Helm reads values files with a YAML 1.1 parser.
var yaml11Bools = map[string]bool{
	"y": true, "Y": true, "yes": true, "Yes": true, "YES": true,
	"on": true, "On": true, "ON": true,
	"n": false, "N": false, "no": false, "No": false, "NO": false,
	"off": false, "Off": false, "OFF": false,
}

// YAML11Warnings finds, in the chart values of doc
// (components.<name>.values), every unquoted scalar such as no, off or
// yes that this file's YAML 1.2 decoder keeps as a string but Helm would
// read from a values file as a boolean. The chart then gets the string:
// `dex: {enabled: no}` reaches the template as "no", which is true.
func YAML11Warnings(doc *Document) []Problem {
	if doc == nil || doc.file == nil {
		return nil
	}
	path, err := yaml.PathString("$.components")
	if err != nil {
		return nil
	}
	comps, err := path.FilterFile(doc.file)
	if err != nil {
		return nil
	}
	m, ok := comps.(ast.MapNode)
	if !ok {
		return nil
	}
	var out []Problem
	for it := m.MapRange(); it.Next(); {
		comp, ok := it.Value().(ast.MapNode)
		if !ok {
			continue
		}
		for ci := comp.MapRange(); ci.Next(); {
			if ci.Key().String() == "values" {
				prefix := "components." + it.Key().String() + ".values"
				out = append(out, yaml11In(doc.Name, prefix, ci.Value())...)
			}
		}
	}
	return out
}

// yaml11In walks the values below n (at the dotted path prefix).
func yaml11In(file, prefix string, n ast.Node) []Problem {
	switch n := n.(type) {
	case ast.MapNode:
		var out []Problem
		for it := n.MapRange(); it.Next(); {
			out = append(out, yaml11In(file, prefix+"."+it.Key().String(), it.Value())...)
		}
		return out
	case *ast.SequenceNode:
		var out []Problem
		for i, v := range n.Values {
			out = append(out, yaml11In(file, prefix+"["+strconv.Itoa(i)+"]", v)...)
		}
		return out
	case *ast.AnchorNode:
		return yaml11In(file, prefix, n.Value)
	case *ast.TagNode:
		// An explicit tag (!!str no) says what the author meant.
		return nil
	case *ast.StringNode:
		b, ok := yaml11Bools[n.Value]
		tk := n.GetToken()
		if !ok || tk == nil || tk.Type != token.StringType {
			return nil
		}
		pos := file
		if tk.Position != nil {
			pos = fmt.Sprintf("%s:%d:%d", file, tk.Position.Line, tk.Position.Column)
		}
		effect := "true in a template"
		if b {
			effect = "not a boolean"
		}
		return []Problem{{
			ID: "yaml11", Severity: diag.Warning, Position: pos,
			Message: fmt.Sprintf("%s: %s is the string %q here, %s; Helm reads it as %t",
				prefix, n.Value, n.Value, effect, b),
			Fix: fmt.Sprintf("write %t, or quote it to keep the string", b),
		}}
	}
	return nil
}
