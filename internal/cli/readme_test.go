package cli

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/neuroscale-dev/neuroscale/internal/config"
)

var (
	codeSpan   = regexp.MustCompile("`([^`]+)`")
	flagInSpan = regexp.MustCompile(`--[a-z][a-z-]*`)
	oValues    = regexp.MustCompile(`-o ([a-z\\|]+)`)
)

// TestREADMECommandTable keeps the README's command table true to --help:
// every command is listed, every flag it shows exists on its command, and
// the -o formats it shows are exactly the command's.
func TestREADMECommandTable(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(b)
	section = section[strings.Index(section, "## Commands\n"):]
	section = section[:strings.Index(section, "\nGlobal flags")]
	root := newRoot(&globals{viper: config.NewViper(nil)})
	root.InitDefaultCompletionCmd()
	listed := map[string]bool{}
	for _, row := range strings.Split(section, "\n") {
		if !strings.HasPrefix(row, "| `") {
			continue
		}
		cell := strings.SplitN(row, " | ", 2)[0]
		for _, m := range codeSpan.FindAllStringSubmatch(cell, -1) {
			span := strings.ReplaceAll(m[1], `\|`, "|")
			if strings.HasPrefix(span, "--") {
				if root.Flags().Lookup(strings.TrimPrefix(span, "--")) == nil {
					t.Errorf("%q: neuroscale has no flag %s", row, span)
				}
				continue
			}
			span = strings.TrimPrefix(span, "neuroscale ")
			var path []string
			for _, w := range strings.Fields(span) {
				if strings.ContainsAny(w, "[-|") || strings.ToUpper(w) == w {
					break
				}
				path = append(path, w)
			}
			cmd, _, err := root.Find(path)
			if err != nil || cmd == root {
				t.Errorf("%q: no command %v", row, path)
				continue
			}
			listed[cmd.CommandPath()] = true
			for _, f := range flagInSpan.FindAllString(span, -1) {
				if cmd.Flags().Lookup(f[2:]) == nil && cmd.InheritedFlags().Lookup(f[2:]) == nil {
					t.Errorf("%q: %s has no flag %s", row, cmd.CommandPath(), f)
				}
			}
			if o := oValues.FindStringSubmatch(span); o != nil {
				got := strings.Split(o[1], "|")
				want := formatsOf(cmd)
				slices.Sort(got)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("%q: -o %v, but %s writes %v", row, got, cmd.CommandPath(), want)
				}
			}
		}
	}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		for _, s := range c.Commands() {
			if s.Hidden || s.Name() == "help" {
				continue
			}
			if s.HasSubCommands() && s.Name() != "completion" {
				walk(s)
				continue
			}
			if !listed[s.CommandPath()] && !(s.Name() == "completion" && listed["neuroscale completion bash"]) {
				t.Errorf("README's command table does not list %s", s.CommandPath())
			}
		}
	}
	walk(root)
}
