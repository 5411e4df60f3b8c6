package secrets

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
	"unicode/utf8"
)

// Redacted is what a Value prints as, whichever way it is printed.
const Redacted = "[redacted]"

// Value is a secret value. Its zero value is empty.
//
// The bytes sit behind a pointer to a string: fmt prints a nested pointer
// as an address, and even its top-level "bad verb" form (%!d(...)), which
// dereferences pointers to structs, slices and maps, prints only the
// address of a pointer to a string. So a struct that holds a Value in an
// unexported field, where fmt cannot call Format, still prints no value.
// Every interface fmt, slog, encoding/json, encoding and YAML encoders look
// for redacts; Reveal is the only way out.
type Value struct {
	p *string
}

// NewValue copies b into a Value.
func NewValue(b []byte) Value {
	if len(b) == 0 {
		return Value{}
	}
	s := string(b)
	return Value{p: &s}
}

// Reveal returns a copy of the value. It is called only where the value
// must leave the process: when the Secret object is built, and to compute
// checksums.
func (v Value) Reveal() []byte {
	if v.p == nil {
		return nil
	}
	return []byte(*v.p)
}

// Len is the value's length in bytes.
func (v Value) Len() int {
	if v.p == nil {
		return 0
	}
	return len(*v.p)
}

// RuneLen is the value's length in characters, which is what a shell's
// ${#VAR} counts in a UTF-8 locale.
func (v Value) RuneLen() int { return utf8.RuneCount(v.Reveal()) }

// IsZero reports whether the value is empty.
func (v Value) IsZero() bool { return v.Len() == 0 }

// Equal compares in constant time, so comparing a guess with the value
// tells nothing through timing.
func (v Value) Equal(o Value) bool {
	return subtle.ConstantTimeCompare(v.Reveal(), o.Reveal()) == 1
}

// String implements fmt.Stringer.
func (v Value) String() string { return Redacted }

// GoString implements fmt.GoStringer for %#v.
func (v Value) GoString() string { return "secrets.Value(" + Redacted + ")" }

// Format implements fmt.Formatter, so every verb (%s, %q, %x, %v, %d...)
// prints the redaction and no verb reaches the bytes.
func (v Value) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = f.Write([]byte(v.GoString()))
		return
	}
	_, _ = f.Write([]byte(Redacted))
}

// LogValue implements slog.LogValuer.
func (v Value) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalJSON implements json.Marshaler.
func (v Value) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler (and so YAML and slog's
// text handler).
func (v Value) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// MarshalYAML implements the YAML marshalers of gopkg.in/yaml.v3 and
// goccy/go-yaml.
func (v Value) MarshalYAML() (any, error) { return Redacted, nil }

// GobEncode refuses: a Value is never serialized with its bytes.
func (v Value) GobEncode() ([]byte, error) {
	return nil, fmt.Errorf("secrets.Value cannot be gob-encoded")
}
