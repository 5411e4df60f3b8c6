package diag

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	tests := []struct {
		d    Diagnostic
		want string
	}{
		{Diagnostic{ID: "port", Severity: Error, Object: "127.0.0.1:7010", Message: "in use", Fix: "stop it"},
			"ERROR port 127.0.0.1:7010: in use (fix: stop it)"},
		{Diagnostic{ID: "NS-X", Severity: Warning, Object: "components.backstage.values", Path: "a.b", Position: "neuroscale.yaml:3:5", Message: "m"},
			"WARNING NS-X components.backstage.values: m (values a.b; at neuroscale.yaml:3:5)"},
		{Diagnostic{ID: "memory", Severity: Error, Message: "too little", Evidence: "7.7 GiB"},
			"ERROR memory: too little (seen: 7.7 GiB)"},
	}
	for _, tt := range tests {
		if got := tt.d.String(); got != tt.want {
			t.Errorf("got  %q\nwant %q", got, tt.want)
		}
	}
	var b strings.Builder
	if err := WriteText(&b, []Diagnostic{tests[0].d, tests[2].d}); err != nil || Errors([]Diagnostic{tests[0].d, tests[1].d}) != 1 {
		t.Fatal(err)
	}
	if b.String() != tests[0].want+"\n"+tests[2].want+"\n" {
		t.Errorf("WriteText: %q", b.String())
	}
}

type coded struct{ error }

func (coded) ExitCode() int { return 3 }

func TestHintAndExitCode(t *testing.T) {
	err := fmt.Errorf("up: %w", WithHint(coded{errors.New("boom")}, "do this"))
	if Hint(err) != "do this" {
		t.Errorf("hint %q", Hint(err))
	}
	if code, ok := ExitCode(err); !ok || code != 3 {
		t.Errorf("exit code %d %v", code, ok)
	}
	if _, ok := ExitCode(errors.New("plain")); ok || Hint(errors.New("plain")) != "" {
		t.Error("a plain error has neither")
	}
}
