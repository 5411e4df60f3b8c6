package secrets

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/diag"
)

const (
	testClientID     = "Ov23li" + alnum14
	testClientSecret = hex40
)

// fakeTerminal answers a prompt with a fixed line.
type fakeTerminal struct {
	answer string
	asked  int
}

func (f *fakeTerminal) ReadPassword() ([]byte, error) {
	f.asked++
	return []byte(f.answer), nil
}

// load resolves a config file given as text.
func load(t *testing.T, yaml string) *config.Resolved {
	t.Helper()
	r, err := config.Load(config.LoadOptions{Path: "-", Stdin: strings.NewReader(yaml)})
	if err != nil {
		t.Fatalf("load config: %v", err)
	}
	return r
}

func env(kv ...string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i] == k {
				return kv[i+1], true
			}
		}
		return "", false
	}
}

const header = "apiVersion: neuroscale.dev/v1alpha1\nkind: Platform\n"

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "value")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestResolve(t *testing.T) {
	t.Parallel()
	tokenFile := writeFile(t, "ghp_"+body36+"\n")
	crlfFile := writeFile(t, "ghp_"+body36+"\r\n")
	spaceFile := writeFile(t, "ghp_"+body36+" \n")
	emptyFile := writeFile(t, "")
	missingFile := filepath.Join(t.TempDir(), "nope")

	tests := []struct {
		name     string
		config   string
		env      func(string) (string, bool)
		terminal *fakeTerminal
		stored   []string
		// wantNames are the entries of the Set; wantOrigins their origins.
		wantNames   []string
		wantOrigins []string
		// wantWarn and wantErr are substrings; "" means none.
		wantWarn string
		wantErr  []string
		wantAsk  int
	}{
		{
			name: "dev token from env", config: header,
			env:       env("GITHUB_TOKEN", testToken),
			wantNames: []string{"GITHUB_TOKEN"}, wantOrigins: []string{"env GITHUB_TOKEN"},
		},
		{
			name: "dev token missing is a warning that says why", config: header,
			env:       env(),
			wantNames: []string{}, wantWarn: `GITHUB_TOKEN: not set (env GITHUB_TOKEN): the scaffolder's "Open pull request" step fails with 401 Bad credentials without it`,
		},
		{
			name: "an empty variable counts as unset", config: header,
			env:       env("GITHUB_TOKEN", ""),
			wantNames: []string{}, wantWarn: "not set",
		},
		{
			name: "dev token missing is not asked for", config: header,
			env: env(), terminal: &fakeTerminal{answer: testToken},
			wantNames: []string{}, wantWarn: "not set",
		},
		{
			name: "dev placeholder is an error", config: header,
			env:     env("GITHUB_TOKEN", "<YOUR_TOKEN_HERE>"),
			wantErr: []string{"secret GITHUB_TOKEN (from env GITHUB_TOKEN): looks like a placeholder in angle brackets"},
		},
		{
			name: "file with newline", config: header + "secrets:\n  GITHUB_TOKEN: {file: " + tokenFile + "}\n",
			env:       env("GITHUB_TOKEN", "ignored-because-file-wins"),
			wantNames: []string{"GITHUB_TOKEN"}, wantOrigins: []string{"file " + tokenFile},
		},
		{
			name: "file with CRLF", config: header + "secrets:\n  GITHUB_TOKEN: {file: " + crlfFile + "}\n",
			wantNames: []string{"GITHUB_TOKEN"}, wantOrigins: []string{"file " + crlfFile},
		},
		{
			name: "file keeps other whitespace", config: header + "secrets:\n  GITHUB_TOKEN: {file: " + spaceFile + "}\n",
			wantErr: []string{"secret GITHUB_TOKEN (from file " + spaceFile + "): ends with a space"},
		},
		{
			name: "empty file", config: header + "secrets:\n  GITHUB_TOKEN: {file: " + emptyFile + "}\n",
			wantErr: []string{"(from file " + emptyFile + "): is empty"},
		},
		{
			name: "missing file", config: header + "secrets:\n  GITHUB_TOKEN: {file: " + missingFile + "}\n",
			wantErr: []string{"(from file " + missingFile + "): cannot be read: no such file or directory"},
		},
		{
			name: "declared env name", config: header + "secrets:\n  GITHUB_TOKEN: {env: GH_PAT}\n",
			env:       env("GH_PAT", testToken, "GITHUB_TOKEN", "<other>"),
			wantNames: []string{"GITHUB_TOKEN"}, wantOrigins: []string{"env GH_PAT"},
		},
		{
			name: "prompt source on a terminal", config: header + "secrets:\n  GITHUB_TOKEN: {prompt: true}\n",
			terminal:  &fakeTerminal{answer: testToken + "\n"},
			wantNames: []string{"GITHUB_TOKEN"}, wantOrigins: []string{"prompt"}, wantAsk: 1,
		},
		{
			name: "prompt source without a terminal names the variable", config: header + "secrets:\n  GITHUB_TOKEN: {prompt: true}\n",
			wantErr: []string{"secret GITHUB_TOKEN (from prompt): is to be asked for on the terminal, but standard input is not a terminal\n    fix: set the environment variable GITHUB_TOKEN"},
		},
		{
			name: "prod: all three from env", config: header + "profile: prod\n",
			env:         env("GITHUB_TOKEN", testToken, "AUTH_GITHUB_CLIENT_ID", testClientID, "AUTH_GITHUB_CLIENT_SECRET", testClientSecret),
			wantNames:   []string{"AUTH_GITHUB_CLIENT_ID", "AUTH_GITHUB_CLIENT_SECRET", "GITHUB_TOKEN"},
			wantOrigins: []string{"env AUTH_GITHUB_CLIENT_ID", "env AUTH_GITHUB_CLIENT_SECRET", "env GITHUB_TOKEN"},
		},
		{
			name: "prod: every problem at once", config: header + "profile: prod\n",
			env: env("GITHUB_TOKEN", "CHANGEME", "AUTH_GITHUB_CLIENT_ID", testClientSecret),
			wantErr: []string{
				"secrets found 4 problems",
				"secret AUTH_GITHUB_CLIENT_ID (from env AUTH_GITHUB_CLIENT_ID): is 40 characters long; a oauth-client-id is 20\n  - secret AUTH_GITHUB_CLIENT_ID (from env AUTH_GITHUB_CLIENT_ID): has 40 hex digits: that is the client secret, not the client ID",
				"secret AUTH_GITHUB_CLIENT_SECRET (from env AUTH_GITHUB_CLIENT_SECRET): is required and not set: GitHub sign-in to Backstage needs the OAuth app's client secret\n    fix: export AUTH_GITHUB_CLIENT_SECRET",
				"secret GITHUB_TOKEN (from env GITHUB_TOKEN): looks like a placeholder that asks to be changed",
			},
		},
		{
			name: "prod: a required secret missing is asked for on a terminal", config: header + "profile: prod\n",
			env:         env("GITHUB_TOKEN", testToken, "AUTH_GITHUB_CLIENT_ID", testClientID),
			terminal:    &fakeTerminal{answer: testClientSecret},
			wantNames:   []string{"AUTH_GITHUB_CLIENT_ID", "AUTH_GITHUB_CLIENT_SECRET", "GITHUB_TOKEN"},
			wantOrigins: []string{"env AUTH_GITHUB_CLIENT_ID", "prompt", "env GITHUB_TOKEN"},
			wantAsk:     1,
		},
		{
			name: "prod: a required secret the cluster holds is kept, not asked for", config: header + "profile: prod\n",
			env:       env("GITHUB_TOKEN", testToken, "AUTH_GITHUB_CLIENT_ID", testClientID),
			terminal:  &fakeTerminal{answer: "never-asked"},
			stored:    []string{"AUTH_GITHUB_CLIENT_SECRET"},
			wantNames: []string{"AUTH_GITHUB_CLIENT_ID", "GITHUB_TOKEN"}, wantOrigins: []string{"env AUTH_GITHUB_CLIENT_ID", "env GITHUB_TOKEN"},
		},
		{
			name: "dev: a token the cluster holds is no warning", config: header,
			stored:    []string{"GITHUB_TOKEN"},
			wantNames: []string{},
		},
		{
			name: "user profile extending prod requires prod's secrets",
			config: header + "profile: staging\nprofiles:\n  staging:\n    extends: prod\n    secrets:\n" +
				"      SLACK_WEBHOOK: {kind: opaque, env: SLACK_URL, required: true, why: alerts go to Slack}\n",
			env: env("GITHUB_TOKEN", testToken, "AUTH_GITHUB_CLIENT_ID", testClientID, "AUTH_GITHUB_CLIENT_SECRET", testClientSecret),
			wantErr: []string{
				"secret SLACK_WEBHOOK (from env SLACK_URL): is required and not set: alerts go to Slack",
			},
		},
		{
			name:      "user profile extending dev keeps the token optional",
			config:    header + "profile: laptop\nprofiles:\n  laptop:\n    extends: dev\n    backstage: {replicas: 1}\n",
			env:       env(),
			wantNames: []string{}, wantWarn: "GITHUB_TOKEN: not set",
		},
		{
			name: "a user-declared secret", config: header + "secrets:\n  OPENAI_API_KEY: {env: OPENAI_KEY, kind: opaque}\n",
			env:         env("OPENAI_KEY", "sk-"+body36, "GITHUB_TOKEN", testToken),
			wantNames:   []string{"GITHUB_TOKEN", "OPENAI_API_KEY"},
			wantOrigins: []string{"env GITHUB_TOKEN", "env OPENAI_KEY"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := load(t, tt.config)
			var prompts bytes.Buffer
			opts := Options{LookupEnv: tt.env, PromptOut: &prompts, Stored: tt.stored}
			if tt.terminal != nil {
				opts.Terminal = tt.terminal
			}
			set, warns, err := Resolve(context.Background(), r, opts)
			var all strings.Builder
			for _, w := range warns {
				all.WriteString(w.String() + "\n")
			}
			if err != nil {
				all.WriteString(err.Error())
			}
			all.WriteString(prompts.String())
			for _, v := range []string{testToken, testClientID, testClientSecret, "sk-" + body36} {
				assertNoLeak(t, all.String(), v)
			}
			if tt.terminal != nil && tt.terminal.asked != tt.wantAsk {
				t.Errorf("asked %d times, want %d", tt.terminal.asked, tt.wantAsk)
			}
			if len(tt.wantErr) > 0 {
				var ve *diag.Failed
				if !errors.As(err, &ve) || ve.Check != "secrets" {
					t.Fatalf("err = %v, want a *diag.Failed of secrets", err)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error does not contain %q:\n%v", w, err)
					}
				}
				if ve.Hint() == "" {
					t.Error("no hint")
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if got := set.Names(); !slices.Equal(got, tt.wantNames) && !(len(got) == 0 && len(tt.wantNames) == 0) {
				t.Fatalf("names = %v, want %v", got, tt.wantNames)
			}
			for i, want := range tt.wantOrigins {
				if got := set.Entries[i].Origin.String(); got != want {
					t.Errorf("%s origin = %q, want %q", set.Entries[i].Name, got, want)
				}
			}
			switch {
			case tt.wantWarn == "" && len(warns) > 0:
				t.Errorf("unexpected warnings %v", warns)
			case tt.wantWarn != "" && (len(warns) != 1 || !strings.Contains(warns[0].Text(), tt.wantWarn)):
				t.Errorf("warnings = %v, want one containing %q", warns, tt.wantWarn)
			}
			if set.Target != DefaultTarget() || !slices.Equal(set.Readers, []string{"backstage/neuroscale-backstage"}) {
				t.Errorf("target %v readers %v", set.Target, set.Readers)
			}
			for _, e := range set.Entries {
				if !slices.Equal(e.Consumers, []string{"backstage/neuroscale-backstage"}) {
					t.Errorf("%s consumers = %v", e.Name, e.Consumers)
				}
			}
		})
	}
}

func TestResolvePromptsWithoutEcho(t *testing.T) {
	t.Parallel()
	r := load(t, header+"profile: prod\n")
	term := &fakeTerminal{answer: testClientSecret}
	var out bytes.Buffer
	_, _, err := Resolve(context.Background(), r, Options{
		LookupEnv: env("GITHUB_TOKEN", testToken, "AUTH_GITHUB_CLIENT_ID", testClientID),
		Terminal:  term, PromptOut: &out,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "AUTH_GITHUB_CLIENT_SECRET is needed: GitHub sign-in to Backstage needs the OAuth app's client secret.\nAUTH_GITHUB_CLIENT_SECRET (input hidden): \n"
	if out.String() != want {
		t.Fatalf("prompt output = %q, want %q", out.String(), want)
	}
}

func TestStatuses(t *testing.T) {
	t.Parallel()
	r := load(t, header+"profile: prod\nsecrets:\n  AUTH_GITHUB_CLIENT_ID: {prompt: true}\n")
	sts, err := Statuses(context.Background(), r, Options{LookupEnv: env("GITHUB_TOKEN", testToken, "AUTH_GITHUB_CLIENT_SECRET", "xxx"), NoPrompt: true})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]State{}
	for _, st := range sts {
		got[st.Name] = st.State
	}
	want := map[string]State{"AUTH_GITHUB_CLIENT_ID": StateAsk, "AUTH_GITHUB_CLIENT_SECRET": StateInvalid, "GITHUB_TOKEN": StateOK}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: state %s, want %s", k, got[k], v)
		}
	}
	if sts[2].Length != len(testToken) {
		t.Errorf("length %d", sts[2].Length)
	}
}

func TestResolveCanceled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := Resolve(ctx, load(t, header), Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}
