package secrets

import (
	"encoding/base64"
	"strings"
)

// scrub replaces every value of set, and its base64 forms, in text with
// Redacted. It is the second line of defence for text neuroscale does not
// write itself (API server errors, a container's stderr): the first is
// never putting a value into a message.
func scrub(set *Set, text string) string {
	if set == nil {
		return text
	}
	for _, e := range set.Entries {
		v := e.Value.Reveal()
		// Very short values would scrub ordinary words; the validation
		// rules refuse them for every known kind anyway.
		if len(v) < 4 {
			continue
		}
		for _, form := range []string{
			string(v),
			base64.StdEncoding.EncodeToString(v),
			base64.RawStdEncoding.EncodeToString(v),
			base64.URLEncoding.EncodeToString(v),
			base64.RawURLEncoding.EncodeToString(v),
		} {
			text = strings.ReplaceAll(text, form, Redacted)
		}
	}
	return text
}

// scrubbedError is an error whose message has been scrubbed; Unwrap keeps
// the chain, so callers still find typed errors (API status, hints).
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// scrubError returns err with set's values scrubbed from its message.
func scrubError(set *Set, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := scrub(set, msg)
	if clean == msg {
		return err
	}
	return &scrubbedError{msg: clean, err: err}
}
