package validate

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// This file evaluates the part of Kyverno's policy language the platform's
// own policies use: match/exclude by kind, namespace and label selector,
// and validate patterns with wildcards (* ?), negation (!) and
// alternatives (|). It answers "would Kyverno admit this object" for
// objects neuroscale itself ships, before any cluster exists.

// errUnsupported marks a pattern construct this evaluator does not know;
// such a rule is not judged rather than judged wrongly.
type errUnsupported struct{ what string }

func (e errUnsupported) Error() string { return "unsupported pattern construct " + e.what }

// ruleApplies reports whether a Kyverno rule's match and exclude select obj.
func ruleApplies(rule map[string]any, obj *unstructured.Unstructured) bool {
	match, _ := rule["match"].(map[string]any)
	if match == nil || !blockSelects(match, obj) {
		return false
	}
	if ex, _ := rule["exclude"].(map[string]any); ex != nil && blockSelects(ex, obj) {
		return false
	}
	return true
}

// blockSelects evaluates a match or exclude block: any (one filter
// selects), all (every filter selects), or a bare resources filter.
func blockSelects(block map[string]any, obj *unstructured.Unstructured) bool {
	if any_, ok := block["any"].([]any); ok {
		for _, f := range any_ {
			if filterSelects(f, obj) {
				return true
			}
		}
		return false
	}
	if all, ok := block["all"].([]any); ok {
		for _, f := range all {
			if !filterSelects(f, obj) {
				return false
			}
		}
		return len(all) > 0
	}
	if _, ok := block["resources"]; ok {
		return filterSelects(block, obj)
	}
	return false
}

// filterSelects evaluates one {resources: {kinds, namespaces, selector}}.
func filterSelects(f any, obj *unstructured.Unstructured) bool {
	res, _ := dig(f, "resources").(map[string]any)
	if res == nil {
		return false
	}
	if kinds, ok := res["kinds"].([]any); ok {
		hit := false
		for _, k := range kinds {
			if kindMatches(str(k), obj.GroupVersionKind()) {
				hit = true
				break
			}
		}
		if !hit {
			return false
		}
	}
	if nss, ok := res["namespaces"].([]any); ok {
		hit := false
		for _, ns := range nss {
			if wildcard(str(ns), obj.GetNamespace()) {
				hit = true
				break
			}
		}
		if !hit {
			return false
		}
	}
	if sel, ok := res["selector"].(map[string]any); ok {
		ls, err := toLabelSelector(sel)
		if err != nil || !ls.Matches(labels.Set(obj.GetLabels())) {
			return false
		}
	}
	return true
}

// kindMatches compares a Kyverno kind (Kind, version/Kind or
// group/version/Kind, with * wildcards) with gvk.
func kindMatches(spec string, gvk schema.GroupVersionKind) bool {
	parts := strings.Split(spec, "/")
	switch len(parts) {
	case 1:
		return wildcard(parts[0], gvk.Kind)
	case 2:
		return wildcard(parts[0], gvk.Version) && wildcard(parts[1], gvk.Kind)
	case 3:
		return wildcard(parts[0], gvk.Group) && wildcard(parts[1], gvk.Version) && wildcard(parts[2], gvk.Kind)
	}
	return false
}

func toLabelSelector(sel map[string]any) (labels.Selector, error) {
	var ls metav1.LabelSelector
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(sel, &ls); err != nil {
		return nil, err
	}
	return metav1.LabelSelectorAsSelector(&ls)
}

// matchPattern checks res against a Kyverno validate pattern and returns
// the path of the first mismatch, or "" when res matches.
func matchPattern(res, pat any, path string) (string, error) {
	switch p := pat.(type) {
	case map[string]any:
		m, ok := res.(map[string]any)
		if !ok {
			return path, nil
		}
		for _, k := range slices.Sorted(maps.Keys(p)) {
			if strings.ContainsAny(k, "()") {
				return "", errUnsupported{"anchor " + k}
			}
			v, ok := m[k]
			if !ok {
				return path + "." + k + " (missing)", nil
			}
			if where, err := matchPattern(v, p[k], path+"."+k); where != "" || err != nil {
				return where, err
			}
		}
		return "", nil
	case []any:
		if len(p) != 1 {
			return "", errUnsupported{fmt.Sprintf("list pattern of %d elements at %s", len(p), path)}
		}
		list, ok := res.([]any)
		if !ok {
			return path, nil
		}
		for i, e := range list {
			if where, err := matchPattern(e, p[0], fmt.Sprintf("%s[%d]", path, i)); where != "" || err != nil {
				return where, err
			}
		}
		return "", nil
	case string:
		if res == nil {
			return path + " (missing)", nil
		}
		if _, isMap := res.(map[string]any); isMap {
			return path, nil
		}
		if !valueMatches(p, fmt.Sprint(res)) {
			return fmt.Sprintf("%s (%v does not match %q)", path, res, p), nil
		}
		return "", nil
	case bool:
		if b, ok := res.(bool); !ok || b != p {
			return fmt.Sprintf("%s (%v, want %v)", path, res, p), nil
		}
		return "", nil
	case nil:
		return "", nil
	default:
		pn, pok := toInt(p)
		rn, rok := toInt(res)
		if !pok || !rok || pn != rn {
			return fmt.Sprintf("%s (%v, want %v)", path, res, p), nil
		}
		return "", nil
	}
}

// valueMatches evaluates one string pattern: alternatives split by |,
// each optionally negated with !, with * and ? wildcards.
func valueMatches(pattern, value string) bool {
	for _, alt := range strings.Split(pattern, "|") {
		alt = strings.TrimSpace(alt)
		if neg, ok := strings.CutPrefix(alt, "!"); ok {
			if !wildcard(neg, value) {
				return true
			}
			continue
		}
		if wildcard(alt, value) {
			return true
		}
	}
	return false
}

// wildcard matches s against p, where * is any run of characters
// (including '/', unlike path.Match) and ? is exactly one.
func wildcard(p, s string) bool {
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == s[si]):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
