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
	if d.file != nil {
		if p, err := yaml.PathString(path); err == nil {
			if n, err := p.FilterFile(d.file); err == nil && n != nil {
				if tk := n.GetToken(); tk != nil && tk.Position != nil {
					return fmt.Sprintf("%s:%d:%d", d.Name, tk.Position.Line, tk.Position.Column)
				}
			}
		}
	}
	return d.Name
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
	var data []byte
	var err error
	name := path
	if path == "-" {
		name = "<stdin>"
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(path)
	}
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
		return doc, &DecodeError{File: name, Msg: "file is empty", Hint: "start from the documented neuroscale.yaml in the repository"}
	}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return doc, toDecodeError(name, err, v)
	}
	doc.file = f
	if len(f.Docs) > 1 {
		return doc, &DecodeError{File: name, Msg: fmt.Sprintf("holds %d YAML documents; neuroscale reads one", len(f.Docs))}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data), yaml.Strict())
	if err := dec.Decode(v); err != nil {
		return doc, toDecodeError(name, err, v)
	}
	return doc, nil
}

func checkHeader(doc *Document, apiVersion, kind, want string) error {
	var errs []error
	if apiVersion != APIVersion {
		errs = append(errs, &DecodeError{File: doc.Name, Msg: fmt.Sprintf("apiVersion is %q", apiVersion), Hint: "use apiVersion: " + APIVersion})
	}
	if kind != want {
		errs = append(errs, &DecodeError{File: doc.Name, Msg: fmt.Sprintf("kind is %q", kind), Hint: "use kind: " + want})
	}
	return errors.Join(errs...)
}

var unknownFieldRe = regexp.MustCompile(`unknown field "([^"]+)"`)

// toDecodeError turns a goccy error into a DecodeError with a position and,
// for unknown keys, the closest known key.
func toDecodeError(name string, err error, v any) error {
	de := &DecodeError{File: name, Msg: err.Error()}
	var yerr yaml.Error
	if errors.As(err, &yerr) {
		de.Msg = yerr.GetMessage()
		if tk := yerr.GetToken(); tk != nil && tk.Position != nil {
			de.Line, de.Column = tk.Position.Line, tk.Position.Column
		}
	}
	var uf *yaml.UnknownFieldError
	if errors.As(err, &uf) {
		if m := unknownFieldRe.FindStringSubmatch(uf.Message); m != nil {
			de.Key = m[1]
			de.Msg = fmt.Sprintf("unknown key %q", m[1])
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
