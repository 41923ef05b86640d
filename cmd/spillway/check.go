package main

import (
	"github.com/spf13/cobra"
)

func newCheckCmd(src *source) *cobra.Command {
	var quiet, dump bool
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Test the configuration file and exit (like nginx -t; --dump is nginx -T)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return testConfig(src, cmd.ErrOrStderr(), cmd.OutOrStdout(), quiet, dump)
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only errors")
	cmd.Flags().BoolVarP(&dump, "dump", "T", false, "print the configuration files after the test")
	return cmd
}
