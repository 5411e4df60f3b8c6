package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/neuroscale-dev/neuroscale/internal/secrets"
)

func newSecretCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secret",
		Short: "Store and check the platform's secrets; values are never printed",
		Long: `secret stores the values the platform needs (GITHUB_TOKEN; in prod also
AUTH_GITHUB_CLIENT_ID and AUTH_GITHUB_CLIENT_SECRET; any declared under secrets:
in neuroscale.yaml) in the Secret neuroscale-backstage-secrets, and checks them.
Values are validated before anything changes, and never appear in any output.
See the README (section Secrets) for where each value comes from.`,
	}
	all := []string{formatText, formatJSON, formatYAML}
	cmd.AddCommand(outputFormats(newSecretSetCmd(g), all...), outputFormats(newSecretCheckCmd(g), all...))
	return cmd
}

func newSecretSetCmd(g *globals) *cobra.Command {
	var wait bool
	cmd := &cobra.Command{
		Use:   "set NAME",
		Short: "Store one secret in the cluster from standard input or a hidden prompt, and restart what reads it",
		Long: `set reads the value of NAME from standard input when it is piped (one
trailing newline is removed), or asks for it without echo on a terminal. It
checks the value (placeholders, quotes, whitespace, the shape of GitHub tokens
and OAuth credentials), server-side applies it into the Secret next to the keys
already there, and updates the checksum annotation of every Deployment that
reads the Secret, which restarts their pods. The same value again changes
nothing. With --wait it waits for the restart and checks inside the new
containers that the variable has the stored length.`,
		Example: "  neuroscale secret set GITHUB_TOKEN            # asks, input hidden\n" +
			"  gh auth token | neuroscale secret set GITHUB_TOKEN\n" +
			"  neuroscale secret set AUTH_GITHUB_CLIENT_SECRET < client-secret.txt",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeSecrets(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := g.withTimeout(cmd.Context())
			defer cancel()
			return runSecretSet(ctx, g, args[0], wait)
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "wait for the restarted pods and check the variable's length inside them")
	return cmd
}

// secretSetOutput is `secret set -o json`: lengths and names only.
type secretSetOutput struct {
	Secret   string                 `json:"secret"`
	Target   secrets.Target         `json:"target"`
	Origin   secrets.Origin         `json:"origin"`
	Length   int                    `json:"length"`
	Changed  bool                   `json:"changed"`
	Rollouts []secrets.Rollout      `json:"rollouts"`
	Verified []secrets.Verification `json:"verified,omitempty"`
}

func runSecretSet(ctx context.Context, g *globals, name string, wait bool) error {
	r, err := g.load(ctx)
	if err != nil {
		return err
	}
	set, err := secrets.ReadOne(r, name, secrets.ReadOptions{
		In:        g.streams.In,
		Terminal:  secrets.StdinTerminal(g.streams.In),
		PromptOut: g.streams.Err,
	})
	if err != nil {
		return err
	}
	acc, err := reach(ctx, r)
	if err != nil {
		return err
	}
	res, err := secrets.Store(ctx, acc.REST, set, g.log)
	if err != nil {
		return fmt.Errorf("store secret %s: %w", name, err)
	}
	entry, _ := set.Get(name)
	out := secretSetOutput{
		Secret: name, Target: set.Target, Origin: entry.Origin, Length: entry.Value.Len(),
		Changed: res.Applied.Changed, Rollouts: res.Rollouts,
	}
	if wait {
		for _, ro := range res.Rollouts {
			if ro.Action == secrets.NotInstalled {
				continue
			}
			fmt.Fprintf(g.streams.Err, "waiting for %s to restart...\n", ro.Consumer)
			if err := secrets.WaitRolledOut(ctx, acc.REST, ro.Consumer, time.Second); err != nil {
				return err
			}
			v, err := secrets.VerifyInContainer(ctx, acc.REST, res.Applied.Set, ro.Consumer)
			if err != nil {
				return fmt.Errorf("verify %s: %w", ro.Consumer, err)
			}
			out.Verified = append(out.Verified, *v)
		}
	}
	if g.structured() {
		return g.writeResult(out)
	}
	writeSecretSet(g.streams.Out, out)
	return nil
}

func writeSecretSet(w io.Writer, o secretSetOutput) {
	if o.Changed {
		fmt.Fprintf(w, "Stored %s (%d characters, from %s) in Secret %s.\n", o.Secret, o.Length, o.Origin, o.Target)
	} else {
		fmt.Fprintf(w, "Secret %s already held this value of %s; nothing changed.\n", o.Target, o.Secret)
	}
	for _, ro := range o.Rollouts {
		switch ro.Action {
		case secrets.Rolled:
			fmt.Fprintf(w, "  %s: restarting with the new value\n", ro.Consumer)
		case secrets.Unchanged:
			fmt.Fprintf(w, "  %s: already up to date\n", ro.Consumer)
		case secrets.NotInstalled:
			fmt.Fprintf(w, "  %s: not installed yet (neuroscale up starts it with the value)\n", ro.Consumer)
		}
	}
	for _, v := range o.Verified {
		for _, c := range v.Checks {
			fmt.Fprintf(w, "  %s\n", c)
		}
	}
}

func newSecretCheckCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Check every secret's source and value without storing anything",
		Long: `check reads each secret the profile and the config declare from its source
(environment variable or file; prompts are not asked) and reports whether it is
set and valid, with the value's length only. It exits 1 when a required secret
is missing or any value is invalid.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := g.load(cmd.Context())
			if err != nil {
				return err
			}
			sts, err := secrets.Statuses(cmd.Context(), r, secrets.Options{LookupEnv: secretEnvLookup(g.env), NoPrompt: true, Log: g.log})
			if err != nil {
				return err
			}
			var problems []secrets.Problem
			for _, st := range sts {
				problems = append(problems, st.Problems...)
			}
			if g.structured() {
				if err := g.writeResult(sts); err != nil {
					return err
				}
			} else {
				writeSecretStatuses(g.streams.Out, r.Profile, sts)
			}
			if len(problems) > 0 {
				return &ExitError{Code: 1, Err: secrets.Invalid(problems)}
			}
			return nil
		},
	}
}

func writeSecretStatuses(w io.Writer, profile string, sts []secrets.Status) {
	if len(sts) == 0 {
		fmt.Fprintf(w, "Profile %s declares no secrets.\n", profile)
		return
	}
	for _, st := range sts {
		need := "optional"
		if st.Required {
			need = "required"
		}
		var state string
		switch st.State {
		case secrets.StateOK:
			state = fmt.Sprintf("ok (%d characters, from %s)", st.Length, st.Origin)
		case secrets.StateMissing:
			state = "not set (" + st.Origin.String() + ")"
			if st.Why != "" {
				state += ": " + st.Why
			}
		case secrets.StateAsk:
			state = "asked for on the terminal by neuroscale up"
		case secrets.StateStored:
			state = "kept from the cluster"
		default:
			reasons := make([]string, len(st.Problems))
			for i, p := range st.Problems {
				reasons[i] = p.Message
			}
			state = "INVALID (" + st.Origin.String() + "): " + strings.Join(reasons, "; ")
		}
		fmt.Fprintf(w, "%-28s %-8s %s\n", st.Name, need, state)
	}
}

// secretEnvLookup looks a variable up in env (KEY=VALUE entries, the last one
// winning as in the process environment).
func secretEnvLookup(env []string) func(string) (string, bool) {
	return func(key string) (string, bool) {
		for i := len(env) - 1; i >= 0; i-- {
			if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
				return v, true
			}
		}
		return "", false
	}
}
