package secrets

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestLengthScript runs the script VerifyInContainer sends with a real
// sh, as the container would, and parses its output.
func TestLengthScript(t *testing.T) {
	t.Parallel()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh on PATH")
	}
	vars := []variable{{env: "GITHUB_TOKEN", key: "GITHUB_TOKEN"}, {env: "EMPTY_ONE", key: "E"}, {env: "UNSET_ONE", key: "U"}, {env: "P_UTF8", key: "UTF8"}}
	cmd := exec.CommandContext(context.Background(), sh, "-c", lengthScript(vars))
	cmd.Env = []string{"GITHUB_TOKEN=" + testToken, "EMPTY_ONE=", "P_UTF8=héllo", "LANG=C.UTF-8"}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sh: %v", err)
	}
	assertNoLeak(t, string(out), testToken)
	got, err := parseLengths(out)
	if err != nil {
		t.Fatalf("parse %q: %v", out, err)
	}
	if got["GITHUB_TOKEN"] != (reported{set: true, n: len(testToken)}) ||
		got["EMPTY_ONE"] != (reported{set: true, n: 0}) ||
		got["UNSET_ONE"] != (reported{set: false, n: 0}) {
		t.Fatalf("lengths = %+v", got)
	}
	// dash counts bytes (6), bash characters (5): both are accepted.
	if n := got["P_UTF8"].n; n != 5 && n != 6 {
		t.Fatalf("P_UTF8 length %d", n)
	}
}

func TestParseLengthsQuotesNothing(t *testing.T) {
	t.Parallel()
	for _, out := range []string{
		"GITHUB_TOKEN:1:40\n" + testToken + "\n",
		"GITHUB_TOKEN:" + testToken + ":40\n",
		"GITHUB_TOKEN:1:x\n",
		"bad name:1:3\n",
	} {
		_, err := parseLengths([]byte(out))
		if err == nil {
			t.Fatalf("parsed %q", out)
		}
		assertNoLeak(t, err.Error(), testToken)
	}
}

func TestSecretVariables(t *testing.T) {
	t.Parallel()
	set := &Set{Target: Target{Namespace: "ns", Name: "s"}, Entries: []Entry{
		{Name: "GITHUB_TOKEN"}, {Name: "AUTH_GITHUB_CLIENT_ID"}, {Name: "dotted.key"},
	}}
	ref := func(name, key string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key}}
	}
	fromSecret := func(name, prefix string) corev1.EnvFromSource {
		return corev1.EnvFromSource{Prefix: prefix, SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}}}
	}
	tests := []struct {
		name string
		c    corev1.Container
		want []string
	}{
		{"envFrom reads every shell-named key", corev1.Container{EnvFrom: []corev1.EnvFromSource{fromSecret("s", "")}},
			[]string{"AUTH_GITHUB_CLIENT_ID=AUTH_GITHUB_CLIENT_ID", "GITHUB_TOKEN=GITHUB_TOKEN"}},
		{"prefix", corev1.Container{EnvFrom: []corev1.EnvFromSource{fromSecret("s", "BS_")}},
			[]string{"BS_AUTH_GITHUB_CLIENT_ID=AUTH_GITHUB_CLIENT_ID", "BS_GITHUB_TOKEN=GITHUB_TOKEN"}},
		{"another Secret", corev1.Container{EnvFrom: []corev1.EnvFromSource{fromSecret("other", "")}}, nil},
		{"single key", corev1.Container{Env: []corev1.EnvVar{{Name: "TOKEN", ValueFrom: ref("s", "GITHUB_TOKEN")}}},
			[]string{"TOKEN=GITHUB_TOKEN"}},
		{"env overrides envFrom", corev1.Container{
			EnvFrom: []corev1.EnvFromSource{fromSecret("s", "")},
			Env:     []corev1.EnvVar{{Name: "GITHUB_TOKEN", Value: "literal"}, {Name: "AUTH_GITHUB_CLIENT_ID", ValueFrom: ref("other", "x")}},
		}, nil},
	}
	for _, tt := range tests {
		var got []string
		for _, v := range secretVariables(tt.c, set) {
			got = append(got, v.env+"="+v.key)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestVerifyErrorHasHintAndNoValue(t *testing.T) {
	t.Parallel()
	err := error(&VerifyError{Consumer: "backstage/neuroscale-backstage", Failed: []LengthCheck{
		{Pod: "p", Container: "c", Variable: "GITHUB_TOKEN", Secret: "GITHUB_TOKEN", Present: true, Want: 40, Got: 17},
		{Pod: "p", Container: "c", Variable: "AUTH_GITHUB_CLIENT_ID", Present: false, Want: 20},
	}})
	want := "backstage/neuroscale-backstage does not see the stored secrets: p/c: GITHUB_TOKEN has 17 characters, the Secret's GITHUB_TOKEN has 40; p/c: AUTH_GITHUB_CLIENT_ID is not set (want 20 characters)"
	if err.Error() != want {
		t.Fatalf("error = %q", err.Error())
	}
	var h interface{ Hint() string }
	if !errors.As(err, &h) || !strings.Contains(h.Hint(), "rollout restart") {
		t.Fatal("no hint")
	}
}
