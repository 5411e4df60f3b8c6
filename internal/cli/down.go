package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// PLACEHOLDER: replaced by the engineer who owns this command.
func newDownCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "down",
		Short: "not built yet",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("down is not built yet")
		},
	}
}
