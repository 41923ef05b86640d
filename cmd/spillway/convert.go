package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"spillway/proxy"
	"spillway/proxy/config"
	"spillway/proxy/config/nginxconf"
)

func newConvertCmd() *cobra.Command {
	var out, prefix string
	var strict bool
	cmd := &cobra.Command{
		Use:   "convert [-o proxy.yaml] nginx.conf",
		Short: "Convert an nginx configuration to proxy.yaml; what does not convert is listed on stderr",
		Long: `Convert reads an nginx configuration (with its include files) and writes the
equivalent proxy.yaml: the main, http, upstream, server and location contexts
and every directive spillway implements. Each directive, parameter or block it
does not convert is listed on stderr as "file:line: message", as unsupported
(spillway behaves differently) or ignored (no difference for a proxy).
Access control spillway does not enforce (limit_except, valid_referers,
...; allow, deny, auth_basic, auth_request, satisfy, limit_req and
limit_conn are enforced) and a location or server it cannot convert
refuse the file instead: "[emerg]" lines name each with its file and line,
the rest is still listed, and nothing is written (fail closed).
The result is then checked like "spillway check". Exit status: 0 when
converted, even with warnings; 1 on an nginx syntax error, a refused file,
when the result does not pass the check, or with --strict when anything is
unsupported.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			stderr := cmd.ErrOrStderr()
			res, err := nginxconf.ConvertFile(args[0], nginxconf.Options{Prefix: prefix, OwnPID: true})
			var refused *nginxconf.RefusedError
			if errors.As(err, &refused) {
				// Everything that does not convert is listed, then each
				// refusal as nginx's [emerg] line; nothing is written.
				for _, w := range res.Warnings {
					if w.Kind != nginxconf.Refused {
						fmt.Fprintln(stderr, w)
					}
				}
				printEmerg(stderr, err)
				fmt.Fprintf(stderr, "spillway: %s not converted: spillway would answer requests that nginx refuses\n", args[0])
				return fmt.Errorf("%w: %s", errCheckFailed, args[0])
			}
			if err != nil {
				// The complete list of what does not convert, then nginx's
				// [emerg] line where it would have stopped.
				if res != nil {
					for _, w := range res.Warnings {
						fmt.Fprintln(stderr, w)
					}
				}
				printEmerg(stderr, err)
				return fmt.Errorf("%w: %s", errCheckFailed, args[0])
			}
			for _, w := range res.Warnings {
				fmt.Fprintln(stderr, w)
			}
			name := out
			if name == "" {
				name = "proxy.yaml (converted from " + args[0] + ")"
			}
			if out != "" {
				if err := os.WriteFile(out, res.YAML, 0o644); err != nil {
					return err
				}
			} else if _, err := cmd.OutOrStdout().Write(res.YAML); err != nil {
				return err
			}
			cfg, err := config.LoadBytes(name, res.YAML)
			if err == nil {
				err = proxy.Validate(cfg)
			}
			if err != nil {
				printEmerg(stderr, err)
				fmt.Fprintf(stderr, "spillway: the converted configuration does not pass the check; fix %s or the output\n", args[0])
				return fmt.Errorf("%w: %s", errCheckFailed, args[0])
			}
			if n := res.Unsupported(); strict && n > 0 {
				fmt.Fprintf(stderr, "spillway: %d unsupported directive%s or parameter%s (--strict)\n", n, plural(n), plural(n))
				return fmt.Errorf("%w: %s", errCheckFailed, args[0])
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write proxy.yaml here instead of stdout")
	cmd.Flags().StringVarP(&prefix, "prefix", "p", "", "nginx's prefix (nginx -p): relative log, pid and temp paths are joined to it")
	cmd.Flags().BoolVar(&strict, "strict", false, "exit 1 when any directive or parameter is unsupported")
	return cmd
}

// printEmerg writes err as nginx's [emerg] lines, one per line of the
// error (a *nginxconf.RefusedError has one per refused directive).
func printEmerg(w io.Writer, err error) {
	for _, line := range strings.Split(strings.TrimSpace(err.Error()), "\n") {
		fmt.Fprintf(w, "spillway: [emerg] %s\n", line)
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// loadConfig is config.Load, except that a file named *.conf is read as an
// nginx.conf and converted (warnings go to warn, if not nil).
func loadConfig(path string, warn io.Writer) (*config.Config, error) {
	return (&source{file: path}).load(warn)
}
