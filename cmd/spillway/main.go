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
	src := &source{}
	var sig string
	var test, dump, quiet, showVersion, showDetails bool
	serve := newServeCmd(src)
	root := &cobra.Command{
		Use:   "spillway [-?hvVtTq] [-s signal] [-p prefix] [-e filename] [-c filename] [-g directives]",
		Short: "A reverse proxy with nginx's proxy behaviour and reset-aware buffering",
		Long: `A reverse proxy with nginx's proxy behaviour and reset-aware buffering.

Without a subcommand it takes nginx's command line: spillway -c FILE serves,
spillway -t tests the configuration, spillway -s reload signals the running
process (and waits until it reports whether the reload was taken).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.ErrOrStderr() // nginx prints all of this on stderr
			if showVersion || showDetails {
				fmt.Fprintln(out, versionLine())
				if showDetails {
					fmt.Fprint(out, versionDetails())
				}
				if !test && !dump {
					return nil
				}
			}
			if test || dump {
				return testConfig(src, out, cmd.OutOrStdout(), quiet, dump)
			}
			if sig != "" { // nginx -s: signal the running process
				return sendSignal(src, sig, out)
			}
			return serve.RunE(cmd, args) // serve is the default, as for nginx
		},
	}
	f := root.Flags()
	f.StringVarP(&sig, "signal", "s", "", "send a signal to the running spillway (via its pid file): stop, quit, reopen, reload")
	f.BoolVarP(&test, "test", "t", false, "test the configuration and exit (nginx -t)")
	f.BoolVarP(&dump, "test-dump", "T", false, "test the configuration, print it and exit (nginx -T)")
	f.BoolVarP(&quiet, "quiet", "q", false, "print only errors while testing the configuration")
	f.BoolVarP(&showVersion, "short-version", "v", false, "print the version and exit")
	f.BoolVarP(&showDetails, "version", "V", false, "print the version, VCS revision, build date and exit")
	pf := root.PersistentFlags()
	pf.StringVarP(&src.file, "config", "c", "proxy.yaml", "configuration file: proxy.yaml, or nginx.conf (a name ending in .conf, or a file of sites-available/ or sites-enabled/)")
	pf.StringVarP(&src.prefix, "prefix", "p", "", "prefix relative paths are resolved against (default: the configuration file's directory)")
	pf.StringVarP(&src.errLog, "error-log", "e", "", "error log when the configuration sets none (default: logs/error.log)")
	pf.StringVarP(&src.globals, "globals", "g", "", `main-context directives, e.g. "pid run/spillway.pid; error_log stderr;"`)
	root.AddCommand(serve, newCheckCmd(src), newDemoCmd(&src.file), newUpstreamCmd(), newProbeCmd(), newBenchCmd(), newConvertCmd())
	return root
}
