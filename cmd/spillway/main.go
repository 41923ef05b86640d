// Command spillway is a reverse proxy with nginx's proxy behaviour, nginx's
// error log, and reset-aware buffering and retries.
//
// main only dispatches subcommands; each lives in its own file and calls
// into proxy/ or bench/.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	root := newRootCmd()
	if err := root.Execute(); err != nil {
		if !errors.Is(err, errCheckFailed) { // check printed nginx's lines itself
			fmt.Fprintln(os.Stderr, "spillway:", err)
		}
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	var configPath, sig string
	serve := newServeCmd(&configPath)
	root := &cobra.Command{
		Use:           "spillway",
		Short:         "A reverse proxy with nginx's proxy behaviour and reset-aware buffering",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if sig != "" { // nginx -s: signal the running process
				return sendSignal(configPath, sig)
			}
			return serve.RunE(cmd, args) // serve is the default, as for nginx
		},
	}
	root.Flags().StringVarP(&sig, "signal", "s", "", "send a signal to the running spillway (via its pid file): stop, quit, reopen, reload")
	root.PersistentFlags().StringVarP(&configPath, "config", "c", "proxy.yaml", "configuration file")
	root.AddCommand(serve, newCheckCmd(&configPath), newDemoCmd(&configPath), newUpstreamCmd(), newProbeCmd(), newBenchCmd(), newConvertCmd())
	return root
}
