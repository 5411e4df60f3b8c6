package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// PLACEHOLDER: replaced by the engineer who owns this command.
func newRenderCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "render",
		Short: "not built yet",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("render is not built yet")
		},
	}
}
