package validate

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/neuroscale-dev/neuroscale/internal/config"
)

// positions finds keys in the config file. It points at the key itself
// (line of `appConfig:`), not at its value, which for a block mapping
// starts on the next line.
type positions struct {
	name string
	body ast.Node
}

// newPositions parses doc; a nil doc (no config file) finds nothing.
func newPositions(doc *config.Document) *positions {
	if doc == nil {
		return &positions{}
	}
	f, err := parser.ParseBytes(doc.Source, 0)
	if err != nil || len(f.Docs) == 0 {
		return &positions{name: doc.Name}
	}
	return &positions{name: doc.Name, body: f.Docs[0].Body}
}

// find returns "file:line:col" of the key at keys ("[2]" indexes a
// list), or "" when the file does not write it.
func (p *positions) find(keys ...string) string {
	n := p.body
	var at *ast.MappingValueNode
	for _, k := range keys {
		n = unwrap(n)
		if i, ok := index(k); ok {
			seq, isSeq := n.(*ast.SequenceNode)
			if !isSeq || i >= len(seq.Values) {
				return ""
			}
			n, at = seq.Values[i], nil
			continue
		}
		mv := entry(n, k)
		if mv == nil {
			return ""
		}
		n, at = mv.Value, mv
	}
	var tk = n
	if at != nil {
		tk = at.Key
	}
	if tk == nil || tk.GetToken() == nil || tk.GetToken().Position == nil {
		return ""
	}
	pos := tk.GetToken().Position
	return fmt.Sprintf("%s:%d:%d", p.name, pos.Line, pos.Column)
}

// unwrap looks through anchors and tags.
func unwrap(n ast.Node) ast.Node {
	for {
		switch x := n.(type) {
		case *ast.AnchorNode:
			n = x.Value
		case *ast.TagNode:
			n = x.Value
		default:
			return n
		}
	}
}

// entry returns the mapping entry of n whose key is k.
func entry(n ast.Node, k string) *ast.MappingValueNode {
	var values []*ast.MappingValueNode
	switch m := n.(type) {
	case *ast.MappingNode:
		values = m.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{m}
	}
	for _, mv := range values {
		if mv.Key != nil && keyText(mv.Key) == k {
			return mv
		}
	}
	return nil
}

func keyText(k ast.MapKeyNode) string {
	if s, ok := unwrap(k).(*ast.StringNode); ok {
		return s.Value
	}
	return strings.Trim(k.String(), `"'`)
}

func index(k string) (int, bool) {
	if !strings.HasPrefix(k, "[") || !strings.HasSuffix(k, "]") {
		return 0, false
	}
	i, err := strconv.Atoi(k[1 : len(k)-1])
	return i, err == nil
}
