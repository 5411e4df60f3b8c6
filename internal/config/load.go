package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// Document is a decoded config or profile file with the source kept, so
// later checks can point at file:line:column.
type Document struct {
	// Name is the file name shown in messages ("<stdin>" for -).
	Name string
	// Source is the raw bytes.
	Source []byte
	file   *ast.File
}

// Position returns "file:line:col" for a YAML path such as
// "$.cluster.provider", or just the file name when the path is absent.
func (d *Document) Position(path string) string {
	if d == nil {
		return ""
	}
	if line, col, ok := d.lookup(path); ok {
		return fmt.Sprintf("%s:%d:%d", d.Name, line, col)
	}
	return d.Name
}

// lookup returns the line and column of the value at a YAML path.
func (d *Document) lookup(path string) (line, col int, ok bool) {
	if d == nil || d.file == nil {
		return 0, 0, false
	}
	p, err := yaml.PathString(path)
	if err != nil {
		return 0, 0, false
	}
	n, err := p.FilterFile(d.file)
	if err != nil || n == nil {
		return 0, 0, false
	}
	tk := n.GetToken()
	switch n.(type) {
	case *ast.MappingNode, *ast.SequenceNode:
		// A block's own token is inside it; its key says more.
		if k := d.keyToken(path); k != nil {
			tk = k
		}
	}
	if tk == nil || tk.Position == nil {
		return 0, 0, false
	}
	return tk.Position.Line, tk.Position.Column, true
}

// keyToken is the token of the last key of a path like $.a.b, or nil.
func (d *Document) keyToken(path string) *token.Token {
	i := strings.LastIndexByte(path, '.')
	if i <= 0 || strings.ContainsAny(path[i+1:], "[]'\"") {
		return nil
	}
	parent, key := path[:i], path[i+1:]
	var n ast.Node
	if parent == "$" {
		if len(d.file.Docs) == 0 {
			return nil
		}
		n = d.file.Docs[0].Body
	} else {
		p, err := yaml.PathString(parent)
		if err != nil {
			return nil
		}
		if n, err = p.FilterFile(d.file); err != nil {
			return nil
		}
	}
	m, ok := n.(*ast.MappingNode)
	if !ok {
		return nil
	}
	for _, mv := range m.Values {
		if mv.Key != nil && mv.Key.GetToken() != nil && mv.Key.GetToken().Value == key {
			return mv.Key.GetToken()
		}
	}
	return nil
}

// errorAt is a DecodeError at the value of a YAML path, or at the top of
// the file when the path is absent.
func (d *Document) errorAt(path, msg, hint string) *DecodeError {
	de := &DecodeError{File: d.Name, Line: 1, Column: 1, Msg: msg, Hint: hint}
	if line, col, ok := d.lookup(path); ok {
		de.Line, de.Column = line, col
	}
	return de
}

// DecodeError is a strict-decoding failure at a place in a file.
type DecodeError struct {
	File   string
	Line   int
	Column int
	// Key is the offending key when known.
	Key string
	// Msg says what is wrong.
	Msg string
	// Hint is "did you mean ..." or what to do.
	Hint string
}

func (e *DecodeError) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "%s:%d:%d: ", e.File, e.Line, e.Column)
	} else {
		fmt.Fprintf(&b, "%s: ", e.File)
	}
	b.WriteString(e.Msg)
	if e.Hint != "" {
		b.WriteString(" (")
		b.WriteString(e.Hint)
		b.WriteString(")")
	}
	return b.String()
}

// ReadPlatform reads neuroscale.yaml from path; "-" reads r.
func ReadPlatform(path string, stdin io.Reader) (*Platform, *Document, error) {
	name, data, err := readLimited(path, stdin, DefaultLimits.MaxBytes)
	if err != nil {
		return nil, nil, fmt.Errorf("read config: %w", err)
	}
	var p Platform
	doc, err := Decode(name, data, &p)
	if err != nil {
		return nil, doc, err
	}
	if err := checkHeader(doc, p.APIVersion, p.Kind, KindPlatform); err != nil {
		return nil, doc, err
	}
	return &p, doc, nil
}

// Decode strictly decodes one YAML document into v. Unknown keys, wrong
// types and duplicate keys are errors naming file:line:column.
func Decode(name string, data []byte, v any) (*Document, error) {
	doc := &Document{Name: name, Source: data}
	if len(bytes.TrimSpace(data)) == 0 {
		return doc, &DecodeError{File: name, Line: 1, Column: 1, Msg: "file is empty", Hint: "start from the documented neuroscale.yaml in the repository"}
	}
	limits := DefaultLimits
	if err := limits.checkSize(name, data); err != nil {
		return doc, err
	}
	if err := limits.scanTokens(name, string(data)); err != nil {
		return doc, err
	}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return doc, toDecodeError(name, data, err, v)
	}
	doc.file = f
	if len(f.Docs) > 1 {
		pos := f.Docs[1].GetToken()
		de := &DecodeError{File: name, Line: 1, Column: 1, Msg: fmt.Sprintf("holds %d YAML documents; neuroscale reads one", len(f.Docs)), Hint: "remove the --- separator and everything after it"}
		if pos != nil && pos.Position != nil {
			de.Line, de.Column = pos.Position.Line, pos.Position.Column
		}
		return doc, de
	}
	if len(f.Docs) == 0 || f.Docs[0].Body == nil {
		return doc, &DecodeError{File: name, Line: 1, Column: 1, Msg: "file holds no YAML value", Hint: "start from the documented neuroscale.yaml in the repository"}
	}
	if err := limits.checkTree(name, f.Docs[0].Body); err != nil {
		return doc, err
	}
	// Decode the tree already parsed: parsing twice doubles the cost.
	dec := yaml.NewDecoder(bytes.NewReader(nil), yaml.Strict())
	if err := dec.DecodeFromNode(f.Docs[0].Body, v); err != nil {
		return doc, toDecodeError(name, data, err, v)
	}
	return doc, nil
}

// readLimited reads at most max+1 bytes of path ("-" reads stdin), so an
// endless or huge input is cut before it is held in memory; Decode then
// reports the size limit.
func readLimited(path string, stdin io.Reader, max int) (string, []byte, error) {
	name, r := path, stdin
	if path == "-" {
		name = "<stdin>"
	} else {
		f, err := os.Open(path)
		if err != nil {
			return name, nil, err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, int64(max)+1))
	return name, data, err
}

func checkHeader(doc *Document, apiVersion, kind, want string) error {
	var errs []error
	if apiVersion != APIVersion {
		msg := "apiVersion is " + Quote(apiVersion)
		if apiVersion == "" {
			msg = "apiVersion is missing"
		}
		errs = append(errs, doc.errorAt("$.apiVersion", msg, "use apiVersion: "+APIVersion))
	}
	if kind != want {
		msg := "kind is " + Quote(kind)
		if kind == "" {
			msg = "kind is missing"
		}
		errs = append(errs, doc.errorAt("$.kind", msg, "use kind: "+want))
	}
	return errors.Join(errs...)
}

var unknownFieldRe = regexp.MustCompile(`unknown field "([^"]+)"`)

// toDecodeError turns a goccy error into a DecodeError with a position and,
// for unknown keys, the closest known key.
func toDecodeError(name string, data []byte, err error, v any) error {
	de := &DecodeError{File: name, Msg: shorten(err.Error())}
	var yerr yaml.Error
	if errors.As(err, &yerr) {
		de.Msg = shorten(yerr.GetMessage())
		if tk := yerr.GetToken(); tk != nil && tk.Position != nil {
			de.Line, de.Column = tk.Position.Line, tk.Position.Column
		}
	}
	if de.Line <= 0 {
		// Errors at the end of the input carry no token: point at the end.
		de.Line, de.Column = offsetPosition(data, len(data))
	}
	var uf *yaml.UnknownFieldError
	if errors.As(err, &uf) {
		if m := unknownFieldRe.FindStringSubmatch(uf.Message); m != nil {
			de.Key = m[1]
			de.Msg = "unknown key " + Quote(m[1])
			if s := closest(m[1], knownKeys(reflect.TypeOf(v))); s != "" {
				de.Hint = fmt.Sprintf("did you mean %q?", s)
			} else {
				de.Hint = "check its spelling and indentation: a key indented too little or too much lands in the wrong block"
			}
		}
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		de.Hint = "check the value's type and the block's indentation"
	}
	return de
}

// knownKeys collects every yaml key name of t and its nested structs.
func knownKeys(t reflect.Type) []string {
	seen := map[reflect.Type]bool{}
	set := map[string]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] {
			return
		}
		seen[t] = true
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if tag != "" && tag != "-" {
				set[tag] = true
			}
			walk(f.Type)
		}
	}
	if t != nil {
		walk(t)
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// closest returns the candidate nearest to s by edit distance, if close.
func closest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	if len(s) > maxQuoted {
		return "" // nothing that long is a typo of a key
	}
	ls := strings.ToLower(s)
	for _, c := range candidates {
		d := Levenshtein(ls, strings.ToLower(c))
		if d < bestD {
			best, bestD = c, d
		}
	}
	limit := 2
	if len(s) > 8 {
		limit = 3
	}
	if bestD <= limit && best != s {
		return best
	}
	return ""
}

// Levenshtein is the edit distance between a and b.
func Levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
