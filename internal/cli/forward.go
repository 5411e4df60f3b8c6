package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// PLACEHOLDER: replaced by the engineer who owns this command.
func newForwardCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "forward",
		Short: "not built yet",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("forward is not built yet")
		},
	}
}
