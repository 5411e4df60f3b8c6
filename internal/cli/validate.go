package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// PLACEHOLDER: replaced by the engineer who owns this command.
func newValidateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "validate",
		Short: "not built yet",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("validate is not built yet")
		},
	}
}
