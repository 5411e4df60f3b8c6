package validate

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// RuleSchema is the finding of an app-config that Backstage's own config
// schema refuses.
const RuleSchema = "NS-BACKSTAGE-SCHEMA"

// backstageSchemaJSON is the config schema the Backstage 1.45.0 packages
// declare (the backend plugins of the pinned image, and
// @backstage/core-app-api for the frontend's app.*), as
// @backstage/config-loader collects it: written by
// `node test/backstage/config-check.js --schema` from the packages of
// test/backstage/package.json; a test there checks that it still matches.
//
//go:embed backstage-config-schema.json
var backstageSchemaJSON []byte

type backstageSchemas struct {
	list []*jsonschema.Schema
	err  error
}

var loadBackstageSchemas = sync.OnceValue(func() backstageSchemas {
	var doc struct {
		Schemas []struct {
			Path  string          `json:"path"`
			Value json.RawMessage `json:"value"`
		} `json:"schemas"`
	}
	if err := json.Unmarshal(backstageSchemaJSON, &doc); err != nil {
		return backstageSchemas{err: fmt.Errorf("embedded Backstage config schema: %w", err)}
	}
	c := jsonschema.NewCompiler()
	var out backstageSchemas
	for _, s := range doc.Schemas {
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(s.Value))
		if err != nil {
			return backstageSchemas{err: fmt.Errorf("embedded schema %s: %w", s.Path, err)}
		}
		url := "backstage:///" + s.Path
		if err := c.AddResource(url, v); err != nil {
			return backstageSchemas{err: fmt.Errorf("embedded schema %s: %w", s.Path, err)}
		}
		sch, err := c.Compile(url)
		if err != nil {
			return backstageSchemas{err: fmt.Errorf("embedded schema %s: %w", s.Path, err)}
		}
		out.list = append(out.list, sch)
	}
	return out
})

// BackstageSchemaErrors checks an app-config against Backstage's own
// config schema (the embedded one) without Node, as Backstage does at
// start: every package's schema must accept the config. A ${VAR}
// reference is checked as the string it is here (the pod's environment
// fills it); every key these schemas use for one accepts a string. A null
// is left out: Backstage reads it as an unset key (it is how a value is
// switched off). It returns one line per violation, sorted.
func BackstageSchemaErrors(cfg map[string]any) ([]string, error) {
	s := loadBackstageSchemas()
	if s.err != nil {
		return nil, s.err
	}
	b, err := json.Marshal(dropNulls(cfg))
	if err != nil {
		return nil, fmt.Errorf("app-config as JSON: %w", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("app-config as JSON: %w", err)
	}
	seen := map[string]bool{}
	var out []string
	for _, sch := range s.list {
		err := sch.Validate(inst)
		ve, ok := err.(*jsonschema.ValidationError)
		if !ok {
			continue
		}
		for _, leaf := range leaves(ve) {
			if !seen[leaf] {
				seen[leaf] = true
				out = append(out, leaf)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// leaves are the innermost causes of a validation error, as
// "/json/pointer: message".
func leaves(ve *jsonschema.ValidationError) []string {
	if len(ve.Causes) == 0 {
		loc := "/" + strings.Join(ve.InstanceLocation, "/")
		return []string{fmt.Sprintf("%s: %s", loc, ve.ErrorKind.LocalizedString(message.NewPrinter(language.English)))}
	}
	var out []string
	for _, c := range ve.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}

func dropNulls(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range t {
			if x != nil {
				out[k] = dropNulls(x)
			}
		}
		return out
	case []any:
		out := make([]any, 0, len(t))
		for _, x := range t {
			out = append(out, dropNulls(x))
		}
		return out
	}
	return v
}

// backstageSchema reports what Backstage's own config schema refuses in
// the rendered app-config: Backstage would refuse to start with it.
func (c *check) backstageSchema(app backstageApp) {
	errs, err := BackstageSchemaErrors(app.cfg)
	if err != nil {
		c.add(Finding{ID: RuleSchema, Severity: Error, Object: app.object, Path: appConfigPath,
			Message: err.Error(), Fix: "rebuild neuroscale: its embedded Backstage schema is broken"})
		return
	}
	for _, e := range errs {
		c.add(Finding{ID: RuleSchema, Severity: Error, Object: app.object, Path: appConfigPath,
			Message: "Backstage's config schema (release 1.45.0) refuses the app-config: " + e,
			Fix:     "fix the key in components.backstage.values.backstage.appConfig, or drop it and let neuroscale render it"})
	}
}
