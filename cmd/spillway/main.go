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
	var configPath string
	serve := newServeCmd(&configPath)
	root := &cobra.Command{
		Use:           "spillway",
		Short:         "A reverse proxy with nginx's proxy behaviour and reset-aware buffering",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE:          serve.RunE, // serve is the default, as for nginx
	}
	root.PersistentFlags().StringVarP(&configPath, "config", "c", "proxy.yaml", "configuration file")
	root.AddCommand(serve, newCheckCmd(&configPath), newDemoCmd(&configPath), newUpstreamCmd(), newProbeCmd(), newBenchCmd())
	return root
}
