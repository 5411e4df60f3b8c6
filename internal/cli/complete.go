package cli

import (
	"context"
	"slices"
	"sort"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/profiles"
)

// completion is a cobra completion function; flag and argument completion
// share the shape.
type completion = func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective)

// registerCompletions makes the shell complete what neuroscale knows:
// profiles (built-in and the config's), providers, kube contexts and each
// command's -o formats. Arguments (forward names, secret names) are
// completed by their commands with completeForwards and completeSecrets.
func registerCompletions(g *globals, root *cobra.Command) {
	fixed := func(values ...string) completion {
		return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return values, cobra.ShellCompDirectiveNoFileComp
		}
	}
	_ = root.RegisterFlagCompletionFunc("output", func(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
		return formatsOf(cmd), cobra.ShellCompDirectiveNoFileComp
	})
	_ = root.RegisterFlagCompletionFunc("provider", fixed(config.ProviderK3d, config.ProviderExisting))
	_ = root.RegisterFlagCompletionFunc("profile", func(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
		names := profiles.Names()
		// The config's own profiles, when it loads; a broken config still
		// completes the built-in ones.
		if r, err := g.loadQuiet(ctxOf(cmd)); err == nil && r.Platform != nil {
			for name := range r.Platform.Profiles {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		return slices.Compact(names), cobra.ShellCompDirectiveNoFileComp
	})
	_ = root.RegisterFlagCompletionFunc("context", func(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
		return kubeContexts(ctxOf(cmd), g), cobra.ShellCompDirectiveNoFileComp
	})
}

// kubeContexts lists the contexts of the kubeconfig --kubeconfig (or the
// configuration, or the default loading rules) names.
func kubeContexts(ctx context.Context, g *globals) []string {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if r, err := g.loadQuiet(ctx); err == nil && r.Cluster.Kubeconfig != "" {
		rules.ExplicitPath = r.Cluster.Kubeconfig
	}
	raw, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).RawConfig()
	if err != nil {
		return nil
	}
	var names []string
	for name := range raw.Contexts {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// completeForwards completes forward names not given yet.
func completeForwards(g *globals) completion {
	return func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		r, err := g.loadQuiet(ctxOf(cmd))
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []string
		for _, f := range r.Forwards {
			if !slices.Contains(args, f.Name) {
				names = append(names, f.Name)
			}
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeSecrets completes the secret names the profile and the config
// declare, for the first argument only.
func completeSecrets(g *globals) completion {
	return func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		r, err := g.loadQuiet(ctxOf(cmd))
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []string
		for _, s := range r.Secrets {
			names = append(names, s.Name)
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

// ctxOf is cmd's context; cobra leaves it nil when a completion runs
// outside ExecuteContext.
func ctxOf(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}
