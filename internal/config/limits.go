package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/token"
)

// Limits bound what reading one YAML file may cost. A config file is a few
// kilobytes; these are far above any real one and far below what would
// exhaust the machine: an alias bomb expands exponentially, and the YAML
// parser's time grows with the square of a mapping's size and of its depth.
type Limits struct {
	// MaxBytes is the largest file read.
	MaxBytes int
	// MaxDepth is the deepest nesting of mappings and sequences.
	MaxDepth int
	// MaxKeys is the most keys in one mapping.
	MaxKeys int
	// MaxNodes is the most values the document may hold once every alias
	// is expanded (what decoding and merging will build).
	MaxNodes int
}

// DefaultLimits apply to every file Decode reads.
var DefaultLimits = Limits{
	MaxBytes: 256 << 10,
	MaxDepth: 64,
	MaxKeys:  2000,
	MaxNodes: 100_000,
}

// limitHint says what to do when a limit is hit.
const limitHint = "a neuroscale config is a few kilobytes; check that this is the file you meant, and move large Helm values into fewer, flatter keys"

// limitError is a DecodeError for a limit, at the token that crossed it.
func limitError(name string, tk *token.Token, msg string) *DecodeError {
	de := &DecodeError{File: name, Msg: msg, Hint: limitHint}
	if tk != nil && tk.Position != nil {
		de.Line, de.Column = tk.Position.Line, tk.Position.Column
	} else {
		de.Line, de.Column = 1, 1
	}
	return de
}

// checkSize rejects data longer than MaxBytes, pointing at the first byte
// past the limit.
func (l Limits) checkSize(name string, data []byte) error {
	if l.MaxBytes <= 0 || len(data) <= l.MaxBytes {
		return nil
	}
	line, col := offsetPosition(data, l.MaxBytes)
	return &DecodeError{File: name, Line: line, Column: col,
		Msg:  fmt.Sprintf("the file is larger than %s, the limit for a config file", byteSize(l.MaxBytes)),
		Hint: limitHint}
}

// offsetPosition is the 1-based line and column of byte off in data.
func offsetPosition(data []byte, off int) (int, int) {
	off = min(off, len(data))
	line, start := 1, 0
	for i := 0; i < off; i++ {
		if data[i] == '\n' {
			line++
			start = i + 1
		}
	}
	return line, off - start + 1
}

func byteSize(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// scanTokens checks depth and mapping size on the token stream, before the
// parser runs: the parser is what takes minutes on such input, while the
// lexer is linear. Block structure is read from columns (each new, deeper
// column opens a collection) and flow structure from brackets.
func (l Limits) scanTokens(name string, src string) error {
	type block struct {
		col  int
		seq  bool
		keys int
	}
	type flow struct {
		mapping bool
		keys    int
	}
	var blocks []block
	var flows []flow
	for _, tk := range lexer.Tokenize(src) {
		if tk.Position == nil {
			continue
		}
		switch tk.Type {
		case token.SequenceStartType, token.MappingStartType:
			flows = append(flows, flow{mapping: tk.Type == token.MappingStartType})
		case token.SequenceEndType, token.MappingEndType:
			if len(flows) > 0 {
				flows = flows[:len(flows)-1]
			}
		case token.MappingValueType, token.SequenceEntryType:
			if len(flows) > 0 {
				if tk.Type == token.MappingValueType {
					f := &flows[len(flows)-1]
					f.keys++
					if f.mapping && l.MaxKeys > 0 && f.keys > l.MaxKeys {
						return limitError(name, tk, fmt.Sprintf("a mapping has more than %d keys, the limit", l.MaxKeys))
					}
				}
				break
			}
			seq := tk.Type == token.SequenceEntryType
			anchor := tk
			if !seq && tk.Prev != nil && tk.Prev.Position != nil && tk.Prev.Position.Line == tk.Position.Line {
				anchor = tk.Prev // the key, whose column is the mapping's
			}
			col := anchor.Position.Column
			for len(blocks) > 0 {
				top := blocks[len(blocks)-1]
				if top.col > col || top.col == col && top.seq != seq {
					blocks = blocks[:len(blocks)-1]
					continue
				}
				break
			}
			if n := len(blocks); n > 0 && blocks[n-1].col == col {
				blocks[n-1].keys++
				if !seq && l.MaxKeys > 0 && blocks[n-1].keys > l.MaxKeys {
					return limitError(name, anchor, fmt.Sprintf("a mapping has more than %d keys, the limit", l.MaxKeys))
				}
			} else {
				blocks = append(blocks, block{col: col, seq: seq, keys: 1})
			}
		default:
			continue
		}
		if l.MaxDepth > 0 && len(blocks)+len(flows) > l.MaxDepth {
			return limitError(name, tk, fmt.Sprintf("values are nested more than %d levels deep, the limit", l.MaxDepth))
		}
	}
	return nil
}

// checkTree walks the parsed document: it counts the values every alias
// expands to, and reports every mapping key that is not a string (the
// decoder drops the whole mapping holding one, silently).
func (l Limits) checkTree(name string, body ast.Node) error {
	w := &treeWalk{name: name, limits: l, anchors: map[string]int{}}
	total := w.size(body)
	if w.over != nil {
		return w.over
	}
	if l.MaxNodes > 0 && total > l.MaxNodes {
		return limitError(name, body.GetToken(), fmt.Sprintf("the document expands to more than %d values, the limit", l.MaxNodes))
	}
	return errors.Join(w.keys...)
}

type treeWalk struct {
	name    string
	limits  Limits
	anchors map[string]int
	total   int
	over    error
	keys    []error
}

// maxKeyProblems caps how many non-string keys one error lists.
const maxKeyProblems = 20

// size returns how many values n stands for once aliases are expanded,
// saturating just above MaxNodes so an alias bomb cannot overflow it.
func (w *treeWalk) size(n ast.Node) int {
	if n == nil || w.over != nil {
		return 0
	}
	limit := w.limits.MaxNodes
	add := func(a, b int) int {
		if limit > 0 && a+b > limit {
			return limit + 1
		}
		return a + b
	}
	switch t := n.(type) {
	case *ast.DocumentNode:
		return w.size(t.Body)
	case *ast.MappingNode:
		s := 1
		for _, v := range t.Values {
			s = add(s, w.size(v))
		}
		return s
	case *ast.MappingValueNode:
		w.checkKey(t.Key)
		return add(w.size(t.Key), w.size(t.Value))
	case *ast.MappingKeyNode:
		return w.size(t.Value)
	case *ast.SequenceNode:
		s := 1
		for _, v := range t.Values {
			s = add(s, w.size(v))
		}
		return s
	case *ast.SequenceEntryNode:
		return w.size(t.Value)
	case *ast.TagNode:
		return w.size(t.Value)
	case *ast.AnchorNode:
		s := w.size(t.Value)
		if t.Name != nil {
			w.anchors[t.Name.GetToken().Value] = s
		}
		return s
	case *ast.AliasNode:
		s := 1
		if t.Value != nil {
			if a, ok := w.anchors[t.Value.GetToken().Value]; ok {
				s = a
			}
		}
		// Every alias is expanded where it stands, so the running total
		// of expansions is what decoding will build.
		w.total = add(w.total, s)
		if limit > 0 && w.total > limit {
			w.over = limitError(w.name, t.GetToken(), fmt.Sprintf("aliases expand to more than %d values, the limit", limit))
			w.over.(*DecodeError).Hint = "every alias copies its anchor's whole value; aliases of aliases multiply (an alias bomb)"
		}
		return s
	}
	return 1
}

// checkKey records a key that is not a plain string.
func (w *treeWalk) checkKey(k ast.Node) {
	for {
		switch t := k.(type) {
		case *ast.MappingKeyNode:
			k = t.Value
			continue
		case *ast.AnchorNode:
			k = t.Value
			continue
		case *ast.TagNode:
			if tk := t.GetToken(); tk != nil && tk.Value == "!!str" {
				return
			}
			k = t.Value
			continue
		}
		break
	}
	what := ""
	switch k.(type) {
	case nil, *ast.StringNode, *ast.LiteralNode, *ast.MergeKeyNode:
		return
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		what = "a number"
	case *ast.BoolNode:
		what = "a boolean"
	case *ast.NullNode:
		what = "null"
	case *ast.MappingNode:
		what = "a mapping"
	case *ast.SequenceNode:
		what = "a sequence"
	case *ast.AliasNode:
		what = "an alias"
	default:
		what = "not a plain string"
	}
	if len(w.keys) == maxKeyProblems {
		w.keys = append(w.keys, &DecodeError{File: w.name, Line: 1, Column: 1, Msg: "more keys that are not strings follow", Hint: "fix the ones above first"})
	}
	if len(w.keys) > maxKeyProblems {
		return
	}
	de := &DecodeError{File: w.name, Msg: fmt.Sprintf("key %s is %s, not a string", Quote(k.String()), what),
		Hint: "quote it; every key neuroscale reads is a string, and a block holding another key would be dropped"}
	if tk := k.GetToken(); tk != nil && tk.Position != nil {
		de.Line, de.Column = tk.Position.Line, tk.Position.Column
	}
	de.Key = k.String()
	w.keys = append(w.keys, de)
}

// maxQuoted is how much of a value a message shows.
const maxQuoted = 64

// Quote quotes s for a message, cut short when long: a message must stay
// readable whatever the file holds.
func Quote(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	cut := maxQuoted
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + fmt.Sprintf("… (%d bytes)", len(s))
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// shorten cuts a library message that may echo a value.
func shorten(msg string) string {
	const maxMsg = 300
	if len(msg) <= maxMsg {
		return msg
	}
	cut := maxMsg
	for cut > 0 && !utf8Start(msg[cut]) {
		cut--
	}
	return strings.TrimSpace(msg[:cut]) + fmt.Sprintf("… (message cut, %d bytes)", len(msg))
}
