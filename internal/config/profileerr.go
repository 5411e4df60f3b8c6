package config

import (
	"errors"
	"fmt"

	"github.com/goccy/go-yaml"
)

// ProfileError is a problem with the profile chain, at the YAML path of the
// config file that named the profile ($.profile or $.profiles.NAME.extends).
type ProfileError struct {
	Path string
	Msg  string
	Hint string
}

func (e *ProfileError) Error() string {
	if e.Hint == "" {
		return e.Msg
	}
	return e.Msg + " (" + e.Hint + ")"
}

// profileErrorAt places a ProfileError in the config file. A profile chosen
// by --profile or NEUROSCALE_PROFILE has no place in the file: the message
// says where it came from instead.
func profileErrorAt(doc *Document, name string, err error) error {
	var pe *ProfileError
	if !errors.As(err, &pe) {
		return err
	}
	if doc != nil && (pe.Path != "$.profile" || doc.valueAt(pe.Path) == name) {
		if line, col, ok := doc.lookup(pe.Path); ok {
			return &DecodeError{File: doc.Name, Line: line, Column: col, Msg: pe.Msg, Hint: pe.Hint}
		}
	}
	if pe.Path == "$.profile" {
		return fmt.Errorf("--profile or %s: %w", EnvName("profile"), err)
	}
	return err
}

// valueAt is the scalar text at a YAML path, or "".
func (d *Document) valueAt(path string) string {
	if d == nil || d.file == nil {
		return ""
	}
	p, err := yaml.PathString(path)
	if err != nil {
		return ""
	}
	n, err := p.FilterFile(d.file)
	if err != nil || n == nil || n.GetToken() == nil {
		return ""
	}
	return n.GetToken().Value
}
