package verify

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/restmapper"

	"github.com/neuroscale-dev/neuroscale/internal/content"
)

// CheckScaffolderDryRun is the ID of the scaffolder dry-run check.
const CheckScaffolderDryRun = "scaffolder-dry-run"

// dryRunPath is the scaffolder's dry-run API (what the template editor
// uses): it runs a Template's steps on files sent with the request, skips
// actions that cannot dry-run (publish), and returns the workspace.
const dryRunPath = "/api/scaffolder/v2/dry-run"

// dryRunFieldManager owns nothing: its applies are dry-runs.
const dryRunFieldManager = "neuroscale-verify"

// ScaffolderDryRun runs the model-endpoint Template, as the catalog holds
// it, through the scaffolder's dry-run API with sample values and the
// skeleton files the Backstage pod mounts (the Template ConfigMap), so
// fetch:template really renders the skeleton; then it server-side dry-run
// applies what was rendered to the cluster. It fails on the step's own
// error (a broken skeleton), on a Template parameter that reaches neither
// the rendered files nor another step, on a skeleton value the step does
// not pass, and on an object the API server refuses.
func ScaffolderDryRun(ctx context.Context, o Options) Result {
	res := Result{ID: CheckScaffolderDryRun}
	if o.BackstageURL == "" {
		return noForward(res, "backstage", o.BackstageErr)
	}
	n := o.Names
	tplPath := "/api/catalog/entities/by-name/template/default/" + url.PathEscape(n.Template)
	code, body, err := do(ctx, o.HTTP, http.MethodGet, o.BackstageURL+tplPath, "")
	if err != nil {
		return failed(res, fmt.Sprintf("GET %s: %v", tplPath, err), "check the backstage forward (neuroscale forward) and the Backstage pod")
	}
	if code != http.StatusOK {
		return failed(res, fmt.Sprintf("GET %s → %d: %s", tplPath, code, excerpt(body)), "the Template is not in the catalog: see the catalog-template check")
	}
	var tpl templateEntity
	if err := json.Unmarshal(body, &tpl); err != nil {
		return failed(res, fmt.Sprintf("GET %s → 200 but not an entity: %v", tplPath, err), "check that the forward reaches Backstage's backend")
	}
	files, err := templateFiles(ctx, o)
	if err != nil {
		return failed(res, err.Error(), "neuroscale up installs the Template ConfigMap "+content.TemplatesConfigMap)
	}
	if why := skeletonValuesPassed(tpl, files); why != "" {
		return failed(res, why, "pass the value in the Template's fetch:template step (input.values), or drop it from the skeleton")
	}
	values := SampleValues(tpl.Spec.Parameters)
	post := func(template json.RawMessage) (int, []byte, error) {
		req := map[string]any{"template": template, "values": values, "secrets": map[string]string{}, "directoryContents": dirContents(files)}
		reqBody, err := json.Marshal(req)
		if err != nil {
			return 0, nil, fmt.Errorf("encode dry-run request: %w", err)
		}
		return do(ctx, o.HTTP, http.MethodPost, o.BackstageURL+dryRunPath, string(reqBody))
	}
	code, dryBody, err := post(body)
	skipped := ""
	if err == nil && code != http.StatusOK && strings.Contains(backstageError(dryBody), noTokenError) {
		// Without a GitHub token (allowed in dev, with a warning) the
		// publish step refuses even to dry-run; what this check is for,
		// the skeleton and the objects it renders, is judged without it.
		if stripped, names, serr := withoutPublishSteps(body); serr == nil && len(names) > 0 {
			code, dryBody, err = post(stripped)
			skipped = fmt.Sprintf(" (step(s) %s not dry-run: no GitHub token; set GITHUB_TOKEN to include them)", strings.Join(names, ", "))
		}
	}
	body = dryBody
	res.HTTPStatus = code
	if err != nil {
		return failed(res, fmt.Sprintf("POST %s: %v", dryRunPath, err), "check the backstage forward (neuroscale forward) and the Backstage pod")
	}
	if code != http.StatusOK {
		return failed(res, fmt.Sprintf("POST %s → %d: %s", dryRunPath, code, backstageError(body)),
			"the Template's steps fail on sample values: fix the skeleton or the step the error names (neuroscale renders both; run neuroscale up --reapply to restore them)")
	}
	var out dryRunResult
	if err := json.Unmarshal(body, &out); err != nil {
		return failed(res, fmt.Sprintf("POST %s → 200 but not a dry-run result: %v", dryRunPath, err), "")
	}
	rendered, err := out.files()
	if err != nil {
		return failed(res, fmt.Sprintf("POST %s → 200: %v", dryRunPath, err), "")
	}
	if unused := unusedParameters(tpl, values, rendered); len(unused) > 0 {
		return failed(res, fmt.Sprintf("POST %s → 200, but Template parameter(s) %s reach no rendered file and no other step: the form asks for what the skeleton never uses (rendered: %s)",
			dryRunPath, strings.Join(unused, ", "), strings.Join(slices.Sorted(maps.Keys(rendered)), ", ")),
			"use the parameter in the skeleton (via the fetch:template step's values) or remove it from the Template")
	}
	applied, err := dryRunApply(ctx, o, rendered)
	if err != nil {
		return failed(res, err.Error(), "the skeleton renders an object the cluster refuses: fix the skeleton (neuroscale renders it; run neuroscale up --reapply to restore it)")
	}
	res.Status = Pass
	res.Evidence = fmt.Sprintf("POST %s → 200: fetch:template rendered %s; server-side dry-run applied %s%s", dryRunPath, strings.Join(slices.Sorted(maps.Keys(rendered)), ", "), strings.Join(applied, ", "), skipped)
	return res
}

// noTokenError is what Backstage's GitHub actions answer, even in a dry
// run, when no integration token is configured for github.com.
const noTokenError = "No token available for host"

// withoutPublishSteps returns the Template entity without its publish:*
// steps and without its output (which names their results), and the ids
// of the steps it removed.
func withoutPublishSteps(entity []byte) (json.RawMessage, []string, error) {
	var e map[string]any
	if err := json.Unmarshal(entity, &e); err != nil {
		return nil, nil, err
	}
	spec, _ := e["spec"].(map[string]any)
	steps, _ := spec["steps"].([]any)
	var kept []any
	var removed []string
	for _, st := range steps {
		m, _ := st.(map[string]any)
		if action, _ := m["action"].(string); strings.HasPrefix(action, "publish:") {
			id, _ := m["id"].(string)
			removed = append(removed, id)
			continue
		}
		kept = append(kept, st)
	}
	if len(removed) == 0 {
		return entity, nil, nil
	}
	spec["steps"] = kept
	delete(spec, "output")
	out, err := json.Marshal(e)
	return out, removed, err
}

// templateEntity is what the dry-run check reads of a Template.
type templateEntity struct {
	Spec struct {
		Parameters json.RawMessage `json:"parameters"`
		Steps      []struct {
			ID     string         `json:"id"`
			Action string         `json:"action"`
			Input  map[string]any `json:"input"`
		} `json:"steps"`
	} `json:"spec"`
}

// templateFiles reads the Template ConfigMap the Backstage pod mounts and
// lays it out as the pod sees it (content.TemplateFiles).
func templateFiles(ctx context.Context, o Options) (map[string][]byte, error) {
	if o.Kube == nil {
		return nil, errors.New("no cluster client to read the Template ConfigMap")
	}
	cm, err := o.Kube.CoreV1().ConfigMaps(o.Names.BackstageNamespace).Get(ctx, content.TemplatesConfigMap, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("read the Template ConfigMap: %w", err)
	}
	files := map[string][]byte{}
	for _, f := range content.TemplateFiles {
		s, ok := cm.Data[f.Key]
		if !ok {
			return nil, fmt.Errorf("ConfigMap %s/%s has no key %s", cm.Namespace, cm.Name, f.Key)
		}
		files[f.Path] = []byte(s)
	}
	return files, nil
}

func dirContents(files map[string][]byte) []map[string]string {
	out := make([]map[string]string, 0, len(files))
	for _, p := range slices.Sorted(maps.Keys(files)) {
		out = append(out, map[string]string{"path": p, "base64Content": base64.StdEncoding.EncodeToString(files[p])})
	}
	return out
}

// SampleValues fills every property of the Template's parameter pages:
// the first enum value, else the default, else a value that names the
// parameter (so the check can tell where it ended up) and fits the usual
// Kubernetes name pattern. A RepoUrlPicker gets a github.com repository.
func SampleValues(parameters json.RawMessage) map[string]any {
	var pages []struct {
		Properties map[string]map[string]any `json:"properties"`
	}
	if err := json.Unmarshal(parameters, &pages); err != nil {
		var one struct {
			Properties map[string]map[string]any `json:"properties"`
		}
		if json.Unmarshal(parameters, &one) == nil {
			pages = append(pages, one)
		}
	}
	values := map[string]any{}
	for _, p := range pages {
		for name, schema := range p.Properties {
			values[name] = sampleValue(name, schema)
		}
	}
	return values
}

func sampleValue(name string, schema map[string]any) any {
	if enum, ok := schema["enum"].([]any); ok && len(enum) > 0 {
		return enum[0]
	}
	if d, ok := schema["default"]; ok {
		return d
	}
	marker := "nsv-" + strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(name, "-"))
	if schema["ui:field"] == "RepoUrlPicker" {
		return "github.com?owner=nsv-owner&repo=" + marker
	}
	switch schema["type"] {
	case "boolean":
		return true
	case "number", "integer":
		if m, ok := schema["minimum"].(float64); ok {
			return m
		}
		return 1
	case "array":
		return []any{marker}
	}
	return marker
}

// skeletonValueRef finds ${{ values.NAME }} (and values.NAME inside other
// expressions) in skeleton files.
var skeletonValueRef = regexp.MustCompile(`\$\{\{[^}]*?\bvalues\.([A-Za-z_][A-Za-z0-9_]*)`)

// skeletonValuesPassed reports a value the skeleton uses that no
// fetch:template step passes: it would render empty, silently.
func skeletonValuesPassed(tpl templateEntity, files map[string][]byte) string {
	passed := map[string]bool{}
	for _, s := range tpl.Spec.Steps {
		if s.Action != "fetch:template" {
			continue
		}
		vals, _ := s.Input["values"].(map[string]any)
		for k := range vals {
			passed[k] = true
		}
	}
	var missing []string
	for _, p := range slices.Sorted(maps.Keys(files)) {
		if !strings.HasPrefix(p, "skeleton/") {
			continue
		}
		for _, m := range skeletonValueRef.FindAllSubmatch(files[p], -1) {
			if v := string(m[1]); !passed[v] {
				missing = append(missing, fmt.Sprintf("%s uses values.%s", p, v))
			}
		}
	}
	if len(missing) == 0 {
		return ""
	}
	return "the skeleton uses values the fetch:template step does not pass (they would render empty): " + strings.Join(missing, "; ")
}

// unusedParameters returns the parameters whose sample value shows up in no
// rendered file (path or content) and that no step other than
// fetch:template names.
func unusedParameters(tpl templateEntity, values map[string]any, rendered map[string][]byte) []string {
	var others bytes.Buffer
	for _, s := range tpl.Spec.Steps {
		if s.Action == "fetch:template" {
			continue
		}
		b, _ := json.Marshal(s.Input)
		others.Write(b)
	}
	var unused []string
	for _, name := range slices.Sorted(maps.Keys(values)) {
		if strings.Contains(others.String(), "parameters."+name) {
			continue
		}
		v := fmt.Sprint(values[name])
		found := false
		for p, b := range rendered {
			if strings.Contains(p, v) || bytes.Contains(b, []byte(v)) {
				found = true
				break
			}
		}
		if !found {
			unused = append(unused, name)
		}
	}
	return unused
}

// dryRunResult is the dry-run API's answer.
type dryRunResult struct {
	DirectoryContents []struct {
		Path          string `json:"path"`
		Base64Content string `json:"base64Content"`
	} `json:"directoryContents"`
}

func (r dryRunResult) files() (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, f := range r.DirectoryContents {
		b, err := base64.StdEncoding.DecodeString(f.Base64Content)
		if err != nil {
			return nil, fmt.Errorf("file %s: %w", f.Path, err)
		}
		out[f.Path] = b
	}
	if len(out) == 0 {
		return nil, errors.New("the steps rendered no file")
	}
	return out, nil
}

// dryRunApply server-side applies every object of the rendered YAML files
// with dryRun=All, so the API server (schema, admission, policies) judges
// them without anything being stored. It returns the objects applied.
func dryRunApply(ctx context.Context, o Options, rendered map[string][]byte) ([]string, error) {
	if o.Kube == nil || o.Dynamic == nil {
		return nil, errors.New("no cluster client to dry-run apply the rendered objects")
	}
	groups, err := restmapper.GetAPIGroupResources(o.Kube.Discovery())
	if err != nil {
		return nil, fmt.Errorf("discover the cluster's resources: %w", err)
	}
	mapper := restmapper.NewDiscoveryRESTMapper(groups)
	var applied []string
	for _, p := range slices.Sorted(maps.Keys(rendered)) {
		if !strings.HasSuffix(p, ".yaml") && !strings.HasSuffix(p, ".yml") {
			continue
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(rendered[p]), 4096)
		for {
			var doc map[string]any
			if err := dec.Decode(&doc); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return nil, fmt.Errorf("rendered %s is not valid YAML: %w", p, err)
			}
			if len(doc) == 0 {
				continue
			}
			obj := &unstructured.Unstructured{Object: doc}
			gvk := obj.GroupVersionKind()
			m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if err != nil {
				return nil, fmt.Errorf("rendered %s: %s is not served by the cluster: %w", p, gvk.Kind, err)
			}
			ns := obj.GetNamespace()
			if ns == "" {
				ns = content.DemoNamespace
			}
			ri := o.Dynamic.Resource(m.Resource).Namespace(ns)
			if _, err := ri.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: dryRunFieldManager, Force: true, DryRun: []string{metav1.DryRunAll}}); err != nil {
				return nil, fmt.Errorf("rendered %s: server-side dry-run apply of %s %s/%s refused: %w", p, gvk.Kind, ns, obj.GetName(), err)
			}
			applied = append(applied, fmt.Sprintf("%s %s/%s", gvk.Kind, ns, obj.GetName()))
		}
	}
	if len(applied) == 0 {
		return nil, fmt.Errorf("the rendered files (%s) hold no Kubernetes object", strings.Join(slices.Sorted(maps.Keys(rendered)), ", "))
	}
	return applied, nil
}

// backstageError is the message of a Backstage error body ({"error":
// {"name", "message"}}), or the body's excerpt.
func backstageError(body []byte) string {
	var e struct {
		Error struct {
			Name    string `json:"name"`
			Message string `json:"message"`
		} `json:"error"`
		Errors []struct {
			Stack string `json:"stack"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &e) == nil {
		if e.Error.Message != "" {
			// One line: the renderer's errors span several ("Error:
			// (unknown path)\n  Error: filter not found: x"), and the
			// evidence is one line of the report.
			return strings.Join(strings.Fields(e.Error.Name+": "+e.Error.Message), " ")
		}
		if len(e.Errors) > 0 {
			var msgs []string
			for _, x := range e.Errors {
				msgs = append(msgs, x.Stack)
			}
			return "the values do not fit the Template's parameters: " + strings.Join(msgs, "; ")
		}
	}
	return excerpt(body)
}
