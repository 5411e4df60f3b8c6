package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// PLACEHOLDER: replaced by the engineer who owns this command.
func newBundleCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "bundle",
		Short: "not built yet",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("bundle is not built yet")
		},
	}
}
