package cli

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

// Output formats of -o/--output. Every command takes text; each declares
// the others it can write with outputFormats.
const (
	formatText = "text"
	formatJSON = "json"
	formatYAML = "yaml"
)

// outputAnnotation is the cobra annotation holding a command's -o formats,
// comma-separated, so the check, the help and the completion read one list.
const outputAnnotation = "neuroscale.dev/output"

// outputFormats declares the -o formats cmd writes, text first, and
// returns cmd for chaining in newRoot.
func outputFormats(cmd *cobra.Command, formats ...string) *cobra.Command {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[outputAnnotation] = strings.Join(formats, ",")
	return cmd
}

// formatsOf lists the -o formats cmd accepts: its declared ones, or text
// alone for commands that declare none (help, completion).
func formatsOf(cmd *cobra.Command) []string {
	if s := cmd.Annotations[outputAnnotation]; s != "" {
		return strings.Split(s, ",")
	}
	return []string{formatText}
}

// checkOutput returns a usage error naming the accepted formats when cmd
// cannot write format.
func checkOutput(cmd *cobra.Command, format string) error {
	allowed := formatsOf(cmd)
	for _, f := range allowed {
		if f == format {
			return nil
		}
	}
	hint := ""
	if cmd.Flags().Lookup("output-dir") != nil {
		hint = "; a directory goes to --output-dir"
	}
	return &hintedError{
		err:  fmt.Errorf("-o %q: %s writes %s", format, cmd.CommandPath(), orList(allowed)),
		hint: fmt.Sprintf("use -o %s%s", strings.Join(allowed, "|"), hint),
	}
}

// orList joins items as "a, b or c".
func orList(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

// structured reports whether -o asks for a machine-readable format.
func (g *globals) structured() bool { return g.output == formatJSON || g.output == formatYAML }

// writeResult writes v on standard output as indented JSON or as YAML
// (through its JSON field names, as kubectl does), per -o.
func (g *globals) writeResult(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	if g.output == formatYAML {
		if b, err = yaml.JSONToYAML(b); err != nil {
			return fmt.Errorf("encode result: %w", err)
		}
	} else {
		b = append(b, '\n')
	}
	if _, err := g.streams.Out.Write(b); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}
