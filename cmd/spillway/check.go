package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"spillway/proxy"
)

// errCheckFailed makes `spillway check` exit 1 after it printed nginx's
// "test failed" line itself.
var errCheckFailed = errors.New("configuration test failed")

func newCheckCmd(configPath *string) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Test the configuration file and exit (like nginx -t)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.ErrOrStderr()
			cfg, err := loadConfig(*configPath, out)
			if err == nil {
				err = proxy.Validate(cfg)
			}
			if err != nil {
				printEmerg(out, err)
				fmt.Fprintf(out, "spillway: configuration file %s test failed\n", *configPath)
				cmd.SilenceErrors = true
				return errCheckFailed
			}
			fmt.Fprintf(out, "spillway: the configuration file %s syntax is ok\n", *configPath)
			fmt.Fprintf(out, "spillway: configuration file %s test is successful\n", *configPath)
			return nil
		},
	}
}
