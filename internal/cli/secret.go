package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// PLACEHOLDER: replaced by the engineer who owns this command.
func newSecretCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "secret",
		Short: "not built yet",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("secret is not built yet")
		},
	}
}
