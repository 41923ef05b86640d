package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"spillway/bench/upstreamsim"
	"spillway/proxy"
	"spillway/proxy/config"
)

// newDemoCmd runs proxy.yaml in front of two built-in origins on the
// addresses its first upstream names: the first healthy, the second
// resetting a third of its connections (the "Connection reset by peer" that
// spillway exists for). It sends a few requests itself, shows what happened,
// then keeps serving until Ctrl-C (or --duration).
func newDemoCmd(configPath *string) *cobra.Command {
	var duration time.Duration
	var requests int
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run proxy.yaml in front of built-in origins (one healthy, one resetting) and show the result",
		Long: `Run proxy.yaml in front of built-in origins (one healthy, one resetting),
send a few GETs and POSTs, print what happened and what to curl, and keep
serving until Ctrl-C.

Started with "go run ./cmd/spillway demo", the first run compiles spillway
first: about a minute on a small machine, with no output meanwhile. Later
runs reuse Go's build cache and start in a few seconds.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(*configPath)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			// The error log goes to the terminal so the nginx-format lines
			// (and spillway's retry decisions at info) are visible, after a
			// reload (HUP) too.
			toTerminal := func(c *config.Config) {
				c.ErrorLog = config.ErrorLog{Path: "stderr", Level: config.LevelInfo}
			}
			toTerminal(cfg)
			origins, err := startDemoOrigins(cfg, out)
			if err != nil {
				return err
			}
			defer func() {
				for _, o := range origins {
					_ = o.Close()
				}
			}()
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if duration > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, duration)
				defer cancel()
			}
			return runWith(ctx, cfg, runOptions{override: toTerminal,
				ready: func(p *proxy.Proxy) { demoTraffic(out, p, requests) }})
		},
	}
	cmd.Flags().DurationVar(&duration, "duration", 0, "stop after this long (0: run until Ctrl-C)")
	cmd.Flags().IntVar(&requests, "requests", 12, "requests the demo sends itself before handing over to you")
	return cmd
}

// startDemoOrigins starts one built-in origin per server of the config's
// first upstream (by name): the first healthy, the others resetting a third
// of their requests before answering.
func startDemoOrigins(cfg *config.Config, out io.Writer) ([]*upstreamsim.Upstream, error) {
	names := make([]string, 0, len(cfg.Upstreams))
	for n := range cfg.Upstreams {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("demo: %s has no upstreams to stand in for", cfg.Source)
	}
	var origins []*upstreamsim.Upstream
	for i, s := range cfg.Upstreams[names[0]].Servers {
		bs := []upstreamsim.Behavior{upstreamsim.OK()}
		what := "healthy"
		if i > 0 {
			bs = []upstreamsim.Behavior{upstreamsim.FailRatio(0.33, upstreamsim.Reset())}
			what = "resets 1 request in 3 (RST, like a killed php-fpm worker)"
		}
		u, err := upstreamsim.StartUpstream(s.Address, bs...)
		if err != nil {
			for _, o := range origins {
				_ = o.Close()
			}
			return nil, fmt.Errorf("demo origin on %s: %w", s.Address, err)
		}
		origins = append(origins, u)
		fmt.Fprintf(out, "origin %s: %s\n", u.Addr(), what)
	}
	return origins, nil
}

// demoTraffic sends a few GETs and POSTs through the proxy and prints what
// the client saw, then tells the user what to curl.
func demoTraffic(out io.Writer, p *proxy.Proxy, n int) {
	addr := p.Addrs()[0]
	fmt.Fprintf(out, "spillway listening on %s\n\n", addr)
	c := &http.Client{Timeout: 5 * time.Second}
	ok := map[string]int{}
	for i := range n {
		method := http.MethodGet
		if i%3 == 2 {
			method = http.MethodPost
		}
		req, _ := http.NewRequest(method, "http://"+addr+"/size/1024", nil)
		if method == http.MethodPost {
			req, _ = http.NewRequest(method, "http://"+addr+"/echo", http.NoBody)
		}
		resp, err := c.Do(req)
		if err != nil {
			fmt.Fprintf(out, "%-4s %s: %v\n", method, req.URL.Path, err)
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		ok[fmt.Sprintf("%s %d", method, resp.StatusCode)]++
	}
	keys := make([]string, 0, len(ok))
	for k := range ok {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(out, "\n%d requests sent:", n)
	for _, k := range keys {
		fmt.Fprintf(out, "  %s x%d", k, ok[k])
	}
	fmt.Fprintf(out, `

GETs that hit a reset were retried on the healthy origin (the client saw 200).
POSTs that hit a reset were not: the origin may have acted on them, so the
client got nginx's 502 instead of a duplicate (see the [error] and [info] lines above).

Try it yourself:
  curl -i http://%s/size/1024
  curl -i -X POST --data hello http://%s/echo
Ctrl-C stops the demo.
`, addr, addr)
}
