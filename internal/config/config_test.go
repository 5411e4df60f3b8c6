package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestBrokenConfigs checks that every broken file is rejected with the
// position and the words a user needs to fix it.
func TestBrokenConfigs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		want []string
	}{
		{"unknown-key.yaml", []string{"unknown-key.yaml:4:3", `unknown key "provder"`, `did you mean "provider"?`}},
		{"misindented.yaml", []string{"misindented.yaml:5:3", `unknown key "values"`, "indentation"}},
		{"wrong-type.yaml", []string{"wrong-type.yaml:5:11", "cannot unmarshal string", "type"}},
		{"unknown-component.yaml", []string{"unknown-component.yaml:4:3", `unknown key "backstge"`, `did you mean "backstage"?`}},
		{"header.yaml", []string{"apiVersion is \"neuroscale.dev/v1\"", "use apiVersion: neuroscale.dev/v1alpha1", "kind is \"Platfrom\""}},
		{"duplicate.yaml", []string{"duplicate.yaml:4:1", "profile"}},
		{"semantic.yaml", []string{
			"config found 4 problems",
			`config: cluster.provider "k3s" is not known (at semantic.yaml:4:13)` + "\n    fix: did you mean \"k3d\"?",
			`config: cluster.name "My_Cluster" is not a valid name (at semantic.yaml:5:9)`,
			`config: backstage.auth "ldap" is not known (at semantic.yaml:9:9)`,
			`config: sources.mirror "/tmp/mirror" is neither file:// nor http(s):// (at semantic.yaml:11:11)`,
		}},
		{"ports.yaml", []string{"config: port 7010 is used twice: by the k3d load balancer (http) and by the backstage port-forward (at ports.yaml:6:11)"}},
		{"bad-duration.yaml", []string{"bad-duration.yaml:5:14", `invalid duration "soon"`}},
		{"unknown-profile.yaml", []string{`profile "staging"`, "define it under profiles:"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join("testdata", "bad", tt.file)
			_, err := Load(LoadOptions{Path: path})
			if err == nil {
				t.Fatalf("Load(%s) succeeded; want an error", path)
			}
			msg := strings.ReplaceAll(err.Error(), filepath.Join("testdata", "bad")+string(filepath.Separator), "")
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not contain %q:\n%s", w, msg)
				}
			}
		})
	}
}

// TestExampleConfigLoads keeps the documented neuroscale.yaml at the repo
// root valid.
func TestExampleConfigLoads(t *testing.T) {
	r, err := Load(LoadOptions{Path: filepath.Join("..", "..", "neuroscale.yaml")})
	if err != nil {
		t.Fatalf("the example neuroscale.yaml does not load: %v", err)
	}
	if r.Profile != "dev" || r.Cluster.Provider != ProviderK3d || !r.Enabled(Demo) {
		t.Errorf("unexpected resolution: profile %q provider %q demo %v", r.Profile, r.Cluster.Provider, r.Enabled(Demo))
	}
}

// TestPrecedence checks flags > environment > file > profile > defaults.
func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kc, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "neuroscale.yaml")
	src := "apiVersion: neuroscale.dev/v1alpha1\nkind: Platform\nprofile: prod\ncluster:\n  provider: existing\n  kubeconfig: " + kc + "\n  name: fromfile\nbackstage:\n  title: From File\n"
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}

	// File over profile over defaults.
	r, err := Load(LoadOptions{Path: file})
	if err != nil {
		t.Fatal(err)
	}
	if r.Profile != "prod" || r.Cluster.Name != "fromfile" || r.Backstage.Title != "From File" {
		t.Errorf("file not applied: %q %q %q", r.Profile, r.Cluster.Name, r.Backstage.Title)
	}
	if r.Backstage.Auth != "github" || *r.Backstage.Replicas != 2 {
		t.Errorf("prod profile not applied under the file: auth %q replicas %d", r.Backstage.Auth, *r.Backstage.Replicas)
	}
	if r.Cluster.K3sImage != DefaultK3sImage {
		t.Errorf("default not applied: %q", r.Cluster.K3sImage)
	}

	// Environment over file.
	v := NewViper([]string{"NEUROSCALE_PROFILE=dev", "NEUROSCALE_CLUSTER_NAME=fromenv", "UNRELATED=1"})
	r, err = Load(LoadOptions{Path: file, Viper: v})
	if err != nil {
		t.Fatal(err)
	}
	if r.Profile != "dev" || r.Cluster.Name != "fromenv" {
		t.Errorf("environment not applied: %q %q", r.Profile, r.Cluster.Name)
	}

	// Flags over environment.
	v.Set("cluster.name", "fromflag")
	r, err = Load(LoadOptions{Path: file, Viper: v})
	if err != nil {
		t.Fatal(err)
	}
	if r.Cluster.Name != "fromflag" || r.Profile != "dev" {
		t.Errorf("flag not applied: %q %q", r.Cluster.Name, r.Profile)
	}
}

// TestStdin reads the config from standard input with --config -.
func TestStdin(t *testing.T) {
	r, err := Load(LoadOptions{Path: "-", Stdin: strings.NewReader("apiVersion: neuroscale.dev/v1alpha1\nkind: Platform\nprofile: prod\n")})
	if err != nil {
		t.Fatal(err)
	}
	if r.Profile != "prod" {
		t.Errorf("profile %q, want prod", r.Profile)
	}
	_, err = Load(LoadOptions{Path: "-", Stdin: strings.NewReader("apiVersion: neuroscale.dev/v1alpha1\nkind: Platform\nprofil: prod\n")})
	if err == nil || !strings.Contains(err.Error(), "<stdin>:3:1") {
		t.Errorf("want an error at <stdin>:3:1, got %v", err)
	}
}

// TestUserProfileExtends resolves a profile defined in the file.
func TestUserProfileExtends(t *testing.T) {
	src := `apiVersion: neuroscale.dev/v1alpha1
kind: Platform
profile: workshop
profiles:
  workshop:
    extends: dev
    backstage:
      title: Workshop
    components:
      backstage:
        values:
          backstage:
            replicas: 1
`
	r, err := Load(LoadOptions{Path: "-", Stdin: strings.NewReader(src)})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.ProfileChain, ">"); got != "dev>workshop" {
		t.Errorf("chain %q", got)
	}
	if r.Backstage.Title != "Workshop" || r.Backstage.Auth != "guest" {
		t.Errorf("title %q auth %q", r.Backstage.Title, r.Backstage.Auth)
	}
	vals := r.Component(Backstage).Values
	if _, ok := vals["postgresql"]; !ok {
		t.Errorf("dev's backstage values lost: %v", vals)
	}
	if bs, _ := vals["backstage"].(map[string]any); bs["replicas"] == nil {
		t.Errorf("workshop's backstage values missing: %v", vals)
	}

	_, err = Load(LoadOptions{Path: "-", Stdin: strings.NewReader("apiVersion: neuroscale.dev/v1alpha1\nkind: Platform\nprofile: loop\nprofiles:\n  loop:\n    extends: loop\n")})
	if err == nil || !strings.Contains(err.Error(), "extends itself") {
		t.Errorf("want a cycle error, got %v", err)
	}
}

// TestValidateReportsEverything checks that validation does not stop at
// the first problem.
func TestValidateReportsEverything(t *testing.T) {
	src := `apiVersion: neuroscale.dev/v1alpha1
kind: Platform
cluster:
  provider: nope
  name: "-bad-"
forwards:
  - name: a
    namespace: x
    service: s
    localPort: 9000
    remotePort: 80
  - name: a
    namespace: x
    service: s
    localPort: 9000
    remotePort: 80
secrets:
  GITHUB_TOKEN:
    env: A
    file: /b
    kind: weird
gitops:
  repo: git@github.com:me/repo.git
`
	_, err := Load(LoadOptions{Path: "-", Stdin: strings.NewReader(src)})
	if err == nil {
		t.Fatal("want errors")
	}
	for _, w := range []string{"cluster.provider", "cluster.name", "repeated name", "port 9000 is used twice", "both env and file", `kind "weird"`, "gitops.repo"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in:\n%v", w, err)
		}
	}
}

func TestMergeValuesDoesNotAlias(t *testing.T) {
	base := map[string]any{"a": map[string]any{"b": 1, "c": []any{1}}}
	over := map[string]any{"a": map[string]any{"b": 2}}
	got := MergeValues(base, over)
	if got["a"].(map[string]any)["b"] != 2 || got["a"].(map[string]any)["c"] == nil {
		t.Fatalf("merge wrong: %v", got)
	}
	got["a"].(map[string]any)["c"].([]any)[0] = 9
	if base["a"].(map[string]any)["c"].([]any)[0] != 1 || base["a"].(map[string]any)["b"] != 1 {
		t.Fatalf("merge modified its input: %v", base)
	}
}

// TestProfileForwardsFollowComponents: a profile forward whose component
// is off is not configured, so forward, verify and doctor do not report it
// dead; forwards the file lists stay as written.
func TestProfileForwardsFollowComponents(t *testing.T) {
	t.Parallel()
	names := func(r *Resolved) []string {
		var out []string
		for _, f := range r.Forwards {
			out = append(out, f.Name)
		}
		return out
	}
	off := "apiVersion: neuroscale.dev/v1alpha1\nkind: Platform\ncomponents:\n  backstage: {enabled: false}\n  demo: {enabled: false}\n"
	mustLoad := func(t *testing.T, src string) *Resolved {
		t.Helper()
		r, err := Load(LoadOptions{Path: "-", Stdin: strings.NewReader(src)})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if got := names(mustLoad(t, off)); !slices.Equal(got, []string{"argocd"}) {
		t.Errorf("forwards with backstage and demo off = %v, want [argocd]", got)
	}
	own := off + "forwards:\n  - {name: backstage, namespace: backstage, service: neuroscale-backstage, localPort: 7010, remotePort: 7007}\n"
	if got := names(mustLoad(t, own)); !slices.Equal(got, []string{"backstage"}) {
		t.Errorf("forwards listed in the file = %v, want them as written", got)
	}
}
