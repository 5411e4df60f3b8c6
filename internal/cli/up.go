package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// PLACEHOLDER: replaced by the engineer who owns this command.
func newUpCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "up",
		Short: "not built yet",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("up is not built yet")
		},
	}
}
