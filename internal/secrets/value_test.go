package secrets

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	goyaml "github.com/goccy/go-yaml"
)

const testToken = "ghp_" + body36

// holder has a Value in an exported and in an unexported field: fmt calls
// Format on the first, and can only reach the second by reflection.
type holder struct {
	Exported Value
	hidden   Value
	ptr      *Value
	entry    Entry
}

func TestValueRedacts(t *testing.T) {
	t.Parallel()
	v := NewValue([]byte(testToken))
	h := holder{Exported: v, hidden: v, ptr: &v, entry: Entry{Name: "GITHUB_TOKEN", Value: v}}
	set := &Set{Entries: []Entry{{Name: "GITHUB_TOKEN", Value: v}}}

	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s", "%T"} {
		for _, arg := range []any{v, &v, h, &h, set, *set, []Value{v}, map[string]Value{"k": v}, set.Entries[0]} {
			outputs = append(outputs, fmt.Sprintf(verb, arg))
		}
	}
	outputs = append(outputs, fmt.Sprint(v), fmt.Sprintln(h), v.String(), v.GoString())

	var text, js bytes.Buffer
	for _, l := range []*slog.Logger{slog.New(slog.NewTextHandler(&text, nil)), slog.New(slog.NewJSONHandler(&js, nil))} {
		l.Info("msg", "value", v, "holder", h, "set", set, slog.Any("entry", set.Entries[0]), slog.Group("g", "v", v))
	}
	outputs = append(outputs, text.String(), js.String())

	for _, x := range []any{v, h, set, set.Entries[0]} {
		b, err := json.Marshal(x)
		if err != nil {
			t.Fatalf("json: %v", err)
		}
		outputs = append(outputs, string(b))
		y, err := goyaml.Marshal(x)
		if err != nil {
			t.Fatalf("yaml: %v", err)
		}
		outputs = append(outputs, string(y))
	}
	if txt, err := v.MarshalText(); err != nil || string(txt) != Redacted {
		t.Errorf("MarshalText = %q, %v", txt, err)
	}
	if _, err := v.GobEncode(); err == nil {
		t.Error("GobEncode succeeded")
	}
	outputs = append(outputs, fmt.Errorf("wrapped: %v", v).Error(), errors.New(fmt.Sprint(set)).Error())

	for _, out := range outputs {
		assertNoLeak(t, out, testToken)
	}
	if !strings.Contains(js.String(), Redacted) || !strings.Contains(fmt.Sprintf("%v", v), Redacted) {
		t.Error("the redaction marker is missing: the value was dropped, not redacted")
	}
}

func TestValueReveal(t *testing.T) {
	t.Parallel()
	v := NewValue([]byte("héllo-wörld"))
	if string(v.Reveal()) != "héllo-wörld" || v.Len() != 13 || v.RuneLen() != 11 {
		t.Fatalf("Reveal/Len/RuneLen = %q/%d/%d", v.Reveal(), v.Len(), v.RuneLen())
	}
	if !v.Equal(NewValue([]byte("héllo-wörld"))) || v.Equal(NewValue([]byte("hello"))) {
		t.Fatal("Equal is wrong")
	}
	var zero Value
	if !zero.IsZero() || zero.Len() != 0 || zero.Reveal() != nil || !NewValue(nil).IsZero() {
		t.Fatal("zero Value is not empty")
	}
}

// TestPanicRedacts checks what the runtime prints for a panic with a
// Value: its String, never the bytes.
func TestPanicRedacts(t *testing.T) {
	t.Parallel()
	v := NewValue([]byte(testToken))
	for _, arg := range []any{v, &v, holder{Exported: v, hidden: v}} {
		func() {
			defer func() {
				r := recover()
				assertNoLeak(t, fmt.Sprintf("%v %+v %#v", r, r, r), testToken)
			}()
			panic(arg)
		}()
	}
}

// assertNoLeak fails when text holds the value or any base64 form of it.
func assertNoLeak(t *testing.T, text, value string) {
	t.Helper()
	for _, form := range []string{
		value,
		base64.StdEncoding.EncodeToString([]byte(value)),
		base64.RawStdEncoding.EncodeToString([]byte(value)),
		base64.URLEncoding.EncodeToString([]byte(value)),
		fmt.Sprintf("%x", value),
		strings.Trim(fmt.Sprint([]byte(value)), "[]"),
	} {
		if strings.Contains(text, form) {
			t.Fatalf("output holds the secret value (or an encoding of it):\n%s", text)
		}
	}
}

func TestScrub(t *testing.T) {
	t.Parallel()
	set := &Set{Entries: []Entry{{Name: "A", Value: NewValue([]byte(testToken))}, {Name: "B", Value: NewValue([]byte("ab"))}}}
	b64 := base64.StdEncoding.EncodeToString([]byte(testToken))
	in := fmt.Sprintf("server said: data.A=%s, raw %s, ab stays", b64, testToken)
	got := scrub(set, in)
	assertNoLeak(t, got, testToken)
	if !strings.Contains(got, "ab stays") || strings.Count(got, Redacted) != 2 {
		t.Fatalf("scrub = %q", got)
	}
	err := scrubError(set, fmt.Errorf("apply: %w", errors.New(in)))
	assertNoLeak(t, err.Error(), testToken)
	if errors.Unwrap(err) == nil {
		t.Fatal("scrubbed error lost its chain")
	}
	plain := errors.New("nothing secret")
	if scrubError(set, plain) != plain {
		t.Fatal("an error without values was rewrapped")
	}
}
