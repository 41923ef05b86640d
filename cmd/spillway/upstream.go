package main

import (
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"spillway/bench/upstreamsim"
)

// newUpstreamCmd is `spillway upstream`: a misbehaving origin for tests,
// demos and experiments.
func newUpstreamCmd() *cobra.Command {
	var (
		listen, behavior, file string
		verbose                bool
	)
	cmd := &cobra.Command{
		Use:   "upstream",
		Short: "Run a misbehaving HTTP origin (resets, premature closes, slow or broken answers)",
		Long: `Run an HTTP/1.1 origin that misbehaves on purpose, on a real socket, so that
a proxy's answer to each failure can be seen (and compared with nginx's).

  spillway upstream --listen 127.0.0.1:9001 --behavior "reset path=/reset,idle_rst 5s"
  spillway upstream --listen unix:/run/app.sock
  spillway upstream -f scenario.yaml

Entries are separated by commas; the most specific path= wins, everything else
gets ok (GET /size/N answers N bytes, POST /echo echoes the body).
GET /__stats answers the request counts per method and path as JSON.

Behaviours:
` + upstreamsim.BehaviorHelp() + `
Scenario file:
  upstreams:
    - name: flaky
      listen: 127.0.0.1:9001
      behaviors: "fail_ratio 0.5 reset, idle_rst 5s"
    - listen: 127.0.0.1:9002
      behaviors: [reset path=/reset, slow_header 2s path=/slow]`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfgs []upstreamsim.UpstreamConfig
			switch {
			case file != "" && cmd.Flags().Changed("behavior"):
				return errors.New("use either --behavior or -f, not both")
			case file != "":
				var err error
				if cfgs, err = upstreamsim.LoadScenario(file); err != nil {
					return err
				}
			default:
				bs, err := upstreamsim.ParseBehaviors(behavior)
				if err != nil {
					return err
				}
				cfgs = []upstreamsim.UpstreamConfig{{Addr: listen, Behaviors: bs}}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			log := cmd.ErrOrStderr()
			if !verbose {
				log = nil
			}
			return upstreamsim.RunUpstreams(ctx, cfgs, cmd.OutOrStdout(), log)
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:9001", "address to listen on: host:port, or unix:/path for a unix-domain socket")
	f.StringVarP(&behavior, "behavior", "b", "ok", "behaviours, comma-separated (see above)")
	f.StringVarP(&file, "file", "f", "", "scenario YAML file with several upstreams")
	f.BoolVarP(&verbose, "verbose", "v", false, "log every request and the behaviour that answered it to stderr")
	return cmd
}
