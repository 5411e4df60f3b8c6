// Package validate checks a resolved configuration and the platform
// rendered from it against the rules the seed platform learned the hard
// way. Each rule has an ID (NS-…), names the object and the values path it
// is about, points at file:line:column when the cause is in the config
// file, and says how to fix it.
//
// Nothing here talks to a cluster: the rules read config.Resolved and
// render.Platform only, so `neuroscale validate` runs anywhere and before
// anything is installed.
package validate

import (
	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/diag"
	"github.com/neuroscale-dev/neuroscale/internal/render"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Severity says whether a finding fails validation (diag's).
type Severity = diag.Severity

// Severities. Only errors fail `neuroscale validate`.
const (
	Error   = diag.Error
	Warning = diag.Warning
)

// Rule IDs.
const (
	RuleTemplateAllow  = "NS-BACKSTAGE-TEMPLATE-ALLOW"
	RuleAuth           = "NS-BACKSTAGE-AUTH"
	RuleTitle          = "NS-BACKSTAGE-TITLE"
	RuleBaseURL        = "NS-BACKSTAGE-BASEURL"
	RuleProbes         = "NS-BACKSTAGE-PROBES"
	RuleValuesUnused   = "NS-VALUES-UNUSED"
	RuleKnativeIngress = "NS-KNATIVE-INGRESS"
	RuleSSARequired    = "NS-SSA-REQUIRED"
	RuleSecretLiteral  = "NS-SECRET-LITERAL"
	RuleGitOpsMissing  = "NS-GITOPS-MISSING"
	RulePolicyDemo     = "NS-POLICY-DEMO"
	RulePolicyTemplate = "NS-POLICY-TEMPLATE"
)

// Finding is one rule's verdict on one object, in the vocabulary every
// check shares (package diag).
type Finding = diag.Diagnostic

// Report is every finding for one rendered platform.
type Report struct {
	Profile  string    `json:"profile"`
	Findings []Finding `json:"findings"`
}

// Errors counts the findings that fail validation.
func (r Report) Errors() int {
	return diag.Errors(r.Findings)
}

// Run checks r and the platform rendered from it with every rule.
func Run(r *config.Resolved, p *render.Platform) Report {
	c := &check{r: r, p: p}
	for _, rule := range []func(){
		c.secretLiterals,
		c.unusedValues,
		c.backstage,
		c.knativeIngress,
		c.policies,
		c.gitopsMissing,
		c.images,
	} {
		rule()
	}
	if c.findings == nil {
		c.findings = []Finding{}
	}
	return Report{Profile: r.Profile, Findings: c.findings}
}

// check carries the inputs and the findings of one Run.
type check struct {
	r        *config.Resolved
	p        *render.Platform
	findings []Finding
	// positions is parsed from the config file on first use.
	positions *positions
}

func (c *check) add(f Finding) {
	c.findings = append(c.findings, f)
}

// pos returns the position of the first of cands (key paths such as
// [backstage title]) that is written in the config file, or "".
func (c *check) pos(cands ...[]string) string {
	if c.positions == nil {
		c.positions = newPositions(c.r.Doc)
	}
	for _, keys := range cands {
		if len(keys) == 0 {
			continue
		}
		if p := c.positions.find(keys...); p != "" {
			return p
		}
	}
	return ""
}

// valuesPos returns the position of a values key of component in the
// config file.
func (c *check) valuesPos(component string, keys ...string) string {
	return c.pos(valuesKeys(component, keys...))
}

// valuesKeys is the key path of a component's values key in the config
// file: components.<component>.values.<keys>.
func valuesKeys(component string, keys ...string) []string {
	return append([]string{"components", component, "values"}, keys...)
}

// component returns the rendered component, or nil when it is disabled.
func (c *check) component(name string) *render.Component {
	if c.p == nil {
		return nil
	}
	return c.p.Component(name)
}

// object returns the rendered object of kind and name in component.
func (c *check) object(component, kind, name string) *unstructured.Unstructured {
	comp := c.component(component)
	if comp == nil {
		return nil
	}
	for _, o := range comp.Objects() {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// objectName is how findings name a rendered object.
func objectName(o *unstructured.Unstructured) string {
	if ns := o.GetNamespace(); ns != "" {
		return o.GetKind() + " " + ns + "/" + o.GetName()
	}
	return o.GetKind() + " " + o.GetName()
}

// dig returns the value at keys in nested maps, or nil.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// str returns v as a string when it is one.
func str(v any) string {
	s, _ := v.(string)
	return s
}
