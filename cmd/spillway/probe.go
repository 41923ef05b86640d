package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"spillway/bench/probe"
	"spillway/bench/upstreamsim"
)

// newProbeCmd is `spillway probe URL`: characterise a real upstream and
// explain it in nginx's terms.
func newProbeCmd() *cobra.Command {
	var (
		cfg                probe.Config
		asJSON, progress   bool
		headerMax, bodyMax string
	)
	cmd := &cobra.Command{
		Use:   "probe URL|host:port",
		Short: "Characterise an upstream (keepalive, idle timeout and close kind, limits) in nginx's terms",
		Long: `Probe an HTTP/1.1 upstream from the outside and explain each finding in
nginx's error-log vocabulary, with the proxy setting to use:

  connect time, time to first byte, keepalive, requests per connection,
  idle keepalive timeout and whether the idle close is a FIN or an RST,
  largest request header accepted, request body limit and early answers,
  pipelining, Expect: 100-continue.

It never sends more than --rate requests a second and stops after --max-time.
The idle timeout is watched on one connection and bisected with reuse tests
between --idle-min and --idle-max.`,
		Example: "  spillway probe http://127.0.0.1:9001/\n  spillway probe 127.0.0.1:9001\n  spillway probe --insecure https://10.0.0.5:8443/health\n  spillway probe --idle-max 5s --json http://10.0.0.5:8080/health",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg.URL = args[0]
			var err error
			if cfg.HeaderMax, err = sizeFlag("header-max", headerMax); err != nil {
				return err
			}
			bm, err := upstreamsim.ParseSize(bodyMax)
			if err != nil {
				return fmt.Errorf("--body-max: %w", err)
			}
			cfg.BodyMax = bm
			if progress || probe.IsTerminal(os.Stderr) {
				cfg.Progress = cmd.ErrOrStderr()
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			r, err := probe.Run(ctx, cfg)
			if err != nil {
				return err
			}
			if asJSON {
				err = r.WriteJSON(cmd.OutOrStdout())
			} else {
				err = r.WriteText(cmd.OutOrStdout())
			}
			if err != nil {
				return err
			}
			// The report is written either way; a target that refused, or
			// answered with something that is not HTTP, fails the command
			// so that scripts notice.
			return r.Unreachable()
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.BoolVar(&progress, "progress", false, "show progress on stderr even when it is not a terminal")
	f.BoolVar(&cfg.Insecure, "insecure", false, "do not check an https:// upstream's certificate (like curl -k)")
	f.DurationVar(&cfg.MaxTime, "max-time", 60*time.Second, "bound on the whole probe")
	f.Float64Var(&cfg.Rate, "rate", 5, "most requests per second")
	f.DurationVar(&cfg.IdleMin, "idle-min", 100*time.Millisecond, "shortest idle timeout considered")
	f.DurationVar(&cfg.IdleMax, "idle-max", 50*time.Second, "longest idle timeout looked for")
	f.StringVar(&headerMax, "header-max", "1m", "largest request header tried")
	f.StringVar(&bodyMax, "body-max", "8m", "largest request body tried")
	f.IntVar(&cfg.RequestsMax, "requests-max", 100, "requests sent on one connection looking for a keepalive_requests limit")
	f.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "bound on one exchange")
	f.StringSliceVar(&cfg.Checks, "checks", nil, "run only these checks: keepalive_requests,idle,header,body,pipeline,expect")
	return cmd
}

func sizeFlag(name, v string) (int, error) {
	n, err := upstreamsim.ParseSize(v)
	if err != nil {
		return 0, fmt.Errorf("--%s: %w", name, err)
	}
	return int(n), nil
}
