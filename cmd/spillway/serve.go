package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"spillway/proxy"
	"spillway/proxy/config"
)

func newServeCmd(configPath *string) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the proxy (the default)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(*configPath)
			if err != nil {
				return err
			}
			return run(cmd.Context(), cfg, nil)
		},
	}
}

// run starts the proxy and blocks until a signal: INT/TERM stop at once,
// QUIT stops gracefully (nginx's meanings). ready, if not nil, is called once
// the listeners are open.
func run(ctx context.Context, cfg *config.Config, ready func(*proxy.Proxy)) error {
	if err := ensureDirs(cfg); err != nil {
		return err
	}
	p, err := proxy.New(cfg, proxy.Options{})
	if err != nil {
		return err
	}
	if err := p.Start(); err != nil {
		return err
	}
	if cfg.PID != "" {
		if err := os.WriteFile(cfg.PID, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			_ = p.Close()
			return fmt.Errorf("open() %q failed: %w", cfg.PID, err)
		}
		defer os.Remove(cfg.PID)
	}
	if ready != nil {
		ready(p)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	if ctx == nil {
		ctx = context.Background()
	}
	select {
	case <-ctx.Done():
		return p.Close()
	case sig := <-sigs:
		if sig == syscall.SIGQUIT {
			sctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			return p.Shutdown(sctx)
		}
		return p.Close()
	}
}

// ensureDirs creates the directories for logs, the pid file and temp files
// when they are missing, so a fresh checkout runs (nginx would refuse; the
// paths are spillway's own defaults, not the user's).
func ensureDirs(cfg *config.Config) error {
	dirs := []string{}
	if cfg.ErrorLog.Path != "stderr" {
		dirs = append(dirs, filepath.Dir(cfg.ErrorLog.Path))
	}
	if cfg.PID != "" {
		dirs = append(dirs, filepath.Dir(cfg.PID))
	}
	for _, s := range cfg.Servers {
		if !s.AccessLog.Off && s.AccessLog.Path != "" && s.AccessLog.Path != "stderr" {
			dirs = append(dirs, filepath.Dir(s.AccessLog.Path))
		}
		for _, l := range s.Locations {
			dirs = append(dirs, l.ProxyTempPath, l.ClientBodyTempPath)
		}
	}
	for _, d := range dirs {
		if d == "" || d == "." {
			continue
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("mkdir() %q failed: %w", d, err)
		}
	}
	return nil
}
