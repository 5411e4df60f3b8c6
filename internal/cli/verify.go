package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// PLACEHOLDER: replaced by the engineer who owns this command.
func newVerifyCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "not built yet",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("verify is not built yet")
		},
	}
}
