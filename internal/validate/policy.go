package validate

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/goccy/go-yaml"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/content"
)

// expectedPolicies are the platform's ClusterPolicies and the rules each
// must have. A YAML indentation slip that drops a rule still parses, so
// the only way to notice is to know what should be there.
var expectedPolicies = []struct {
	name  string
	rules []string
}{
	{"require-standard-labels-inferenceservice", []string{"require-owner-and-cost-center"}},
	{"require-standard-labels-deployment", []string{"require-owner-and-cost-center"}},
	{"require-resource-requests-limits", []string{"require-requests-and-limits"}},
	{"disallow-latest-image-tag", []string{"require-image-tag", "disallow-latest-tag"}},
	{"disallow-root-containers", []string{"require-run-as-non-root"}},
}

// policies checks that the Kyverno policies are whole, and that what
// neuroscale itself puts into namespace default (the demo, and what the
// Backstage template generates) passes them.
func (c *check) policies() {
	if c.component(config.Kyverno) == nil {
		return
	}
	var policies []*unstructured.Unstructured
	for _, o := range c.component(config.Kyverno).Objects() {
		if o.GetKind() == "ClusterPolicy" && strings.HasPrefix(o.GetAPIVersion(), "kyverno.io/") {
			policies = append(policies, o)
		}
	}
	c.policyShape(policies)
	if comp := c.component(config.Demo); comp != nil {
		for _, o := range comp.Objects() {
			c.admit(RulePolicyDemo, policies, o, objectName(o), "change the demo manifest (assets/components/demo) so it satisfies the policy")
		}
	}
	c.templateAdmission(policies)
}

// policyShape reports missing policies, missing rules and rules that
// only audit.
func (c *check) policyShape(policies []*unstructured.Unstructured) {
	byName := map[string]*unstructured.Unstructured{}
	for _, p := range policies {
		byName[p.GetName()] = p
	}
	for _, want := range expectedPolicies {
		p := byName[want.name]
		if p == nil {
			c.add(Finding{ID: RulePolicyDemo, Severity: Error, Object: "ClusterPolicy " + want.name,
				Message: "the platform policy is missing from the rendered Kyverno component",
				Fix:     "restore it in assets/components/kyverno/policies and its kustomization.yaml"})
			continue
		}
		spec, _ := p.Object["spec"].(map[string]any)
		rules := map[string]map[string]any{}
		list, _ := spec["rules"].([]any)
		for _, r := range list {
			if m, ok := r.(map[string]any); ok {
				rules[str(m["name"])] = m
			}
		}
		for _, rn := range want.rules {
			r := rules[rn]
			var problem string
			switch {
			case r == nil:
				problem = "is missing (a YAML indentation slip drops a rule without an error)"
			case dig(r, "match") == nil:
				problem = "has no match: block, so it selects nothing"
			case dig(r, "validate", "pattern") == nil && dig(r, "validate", "deny") == nil && dig(r, "validate", "foreach") == nil:
				problem = "has no validate pattern, deny or foreach, so it checks nothing"
			case !enforces(spec, r):
				problem = "only audits: violations are reported, not refused"
			}
			if problem != "" {
				c.add(Finding{ID: RulePolicyDemo, Severity: Error, Object: objectName(p), Path: "spec.rules." + rn,
					Message: "rule " + rn + " " + problem,
					Fix:     "fix the policy in assets/components/kyverno/policies"})
			}
		}
	}
}

// enforces reports whether a rule refuses violations: validate.failureAction
// on the rule, or the deprecated spec.validationFailureAction.
func enforces(spec, rule map[string]any) bool {
	a := str(dig(rule, "validate", "failureAction"))
	if a == "" {
		a = str(spec["validationFailureAction"])
	}
	return strings.EqualFold(a, "Enforce")
}

// admit reports each policy rule that would refuse obj.
func (c *check) admit(id string, policies []*unstructured.Unstructured, obj *unstructured.Unstructured, objName, fix string) {
	for _, r := range Refusals(policies, obj) {
		c.add(Finding{ID: id, Severity: Error, Object: objName,
			Message: fmt.Sprintf("would be refused by ClusterPolicy %s rule %s at %s: %s", r.Policy, r.Rule, r.Path, r.Message),
			Fix:     fix})
	}
}

// Refusal is one enforcing policy rule whose validate pattern obj fails.
type Refusal struct {
	Policy, Rule string
	// Path is where obj first differs from the pattern, e.g.
	// metadata.labels.owner.
	Path    string
	Message string
}

// Refusals answers "would Kyverno refuse obj" with this package's own
// evaluator of the platform's policies: every enforcing rule that selects
// obj and whose pattern obj fails. Rules using constructs the evaluator does
// not know are not judged. The test bench compares it with the real
// Kyverno (test/real), so the answer is kept honest.
func Refusals(policies []*unstructured.Unstructured, obj *unstructured.Unstructured) []Refusal {
	var out []Refusal
	for _, p := range policies {
		spec, _ := p.Object["spec"].(map[string]any)
		list, _ := spec["rules"].([]any)
		for _, r := range list {
			rule, _ := r.(map[string]any)
			if rule == nil || !enforces(spec, rule) || !ruleApplies(rule, obj) {
				continue
			}
			pat := dig(rule, "validate", "pattern")
			if pat == nil {
				continue
			}
			where, err := matchPattern(obj.Object, pat, "")
			if err != nil || where == "" {
				continue
			}
			out = append(out, Refusal{Policy: p.GetName(), Rule: str(rule["name"]),
				Path: strings.TrimPrefix(where, "."), Message: str(dig(rule, "validate", "message"))})
		}
	}
	return out
}

// scaffolderValue matches ${{ values.x }} in the template's skeleton.
var scaffolderValue = regexp.MustCompile(`\$\{\{\s*values\.([A-Za-z0-9_]+)\s*\}\}`)

// templateAdmission renders the model-endpoint template's skeleton with
// sample answers and checks that what a developer gets from the form
// passes admission: the seed platform's template wrote costCenter where
// the policy wanted cost-center, and every merged endpoint was refused.
func (c *check) templateAdmission(policies []*unstructured.Unstructured) {
	cm := c.object(config.Backstage, "ConfigMap", content.TemplatesConfigMap)
	if cm == nil {
		return
	}
	name := "the " + content.TemplateName + " skeleton (ConfigMap " + cm.GetNamespace() + "/" + cm.GetName() + ")"
	obj, err := TemplateSample(cm)
	if err != nil {
		c.add(Finding{ID: RulePolicyTemplate, Severity: Error, Object: name,
			Message: err.Error(),
			Fix:     "fix assets/components/backstage/template"})
		return
	}
	if obj == nil {
		return
	}
	c.admit(RulePolicyTemplate, policies, obj, name,
		"make the skeleton carry what the policy asks (labels owner and cost-center, kebab-case)")
}

// TemplateSample fills the model-endpoint template's InferenceService
// skeleton (key inference-service.yaml of the templates ConfigMap cm) with
// sample answers: what a developer gets from the form. It returns nil when
// cm holds no skeleton.
func TemplateSample(cm *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	skel, _, _ := unstructured.NestedString(cm.Object, "data", "inference-service.yaml")
	if skel == "" {
		return nil, nil
	}
	sample := scaffolderValue.ReplaceAllStringFunc(skel, func(m string) string {
		switch scaffolderValue.FindStringSubmatch(m)[1] {
		case "storageUri":
			return "gs://kfserving-examples/models/sklearn/1.0/model"
		case "modelFormat":
			return "sklearn"
		}
		return "sample"
	})
	obj := map[string]any{}
	if err := yaml.Unmarshal([]byte(sample), &obj); err != nil {
		return nil, fmt.Errorf("the skeleton is not YAML once filled in: %w", err)
	}
	return &unstructured.Unstructured{Object: normalize(obj).(map[string]any)}, nil
}

// normalize turns goccy's decoded integer types into int64, as in
// unstructured objects.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
	case uint64:
		return int64(x)
	}
	return v
}
