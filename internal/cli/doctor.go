package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// PLACEHOLDER: replaced by the engineer who owns this command.
func newDoctorCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "not built yet",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("doctor is not built yet")
		},
	}
}
