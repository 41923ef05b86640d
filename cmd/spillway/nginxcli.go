package main

// nginx's command line beside the subcommands: -c, -p, -e, -g say where the
// configuration comes from; -t, -T, -q test it; -v, -V print the version.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"spillway/proxy"
	"spillway/proxy/config"
	"spillway/proxy/config/nginxconf"
	"spillway/proxy/errorlog"
)

// Set at build time with -ldflags "-X main.revision=... -X main.buildDate=..."
// (the package script does); otherwise the Go toolchain's VCS stamp, when
// the binary was built with it, fills them in.
var revision, buildDate string

// source is where the configuration comes from: nginx's -c, -p, -e and -g.
type source struct {
	file    string // -c as given
	prefix  string // -p; "" = the configuration file's directory
	errLog  string // -e: the error log when the file sets none
	globals string // -g: main-context directives
}

// path is the configuration file: a relative -c is joined to -p, as nginx
// does (nginx -p /srv -c nginx.conf reads /srv/nginx.conf).
func (s *source) path() string {
	if s.prefix != "" && !filepath.IsAbs(s.file) {
		return filepath.Join(s.prefix, s.file)
	}
	return s.file
}

// load reads the configuration: proxy.yaml, or nginx.conf (*.conf) converted
// with its warnings written to warn (nil: dropped). Relative paths are
// resolved against the prefix.
func (s *source) load(warn io.Writer) (*config.Config, error) {
	path := s.path()
	var globals []*nginxconf.Directive
	if strings.TrimSpace(s.globals) != "" {
		ds, err := nginxconf.Parse("command line", []byte(s.globals))
		if err != nil {
			return nil, err
		}
		globals = ds
	}
	paths := config.Paths{Prefix: s.prefix, ErrorLog: s.errLog}
	if !nginxconf.IsNginxFile(path) {
		cfg, err := config.LoadPaths(path, paths)
		if err != nil {
			return nil, err
		}
		return cfg, applyGlobals(cfg, globals)
	}
	ds, err := nginxconf.ParseFile(path, nginxconf.ParseOptions{})
	if err != nil {
		return nil, err
	}
	// -g comes first, as nginx reads it before the file: a "pid" in both
	// is a duplicate, as for nginx.
	// A file with access control spillway does not enforce, or a location
	// or server it cannot convert, is refused (*nginxconf.RefusedError, one
	// line per refusal), after the warnings for everything else.
	res, err := nginxconf.Convert(append(globals, ds...), nginxconf.Options{Source: path, ConfPrefix: nginxconf.ConfDir(path)})
	var refused *nginxconf.RefusedError
	if res != nil {
		// Everything that does not convert, also before an [emerg].
		for _, w := range res.Warnings {
			if warn != nil && (w.Kind != nginxconf.Refused || err != nil && !errors.As(err, &refused)) {
				fmt.Fprintf(warn, "spillway: [warn] %s\n", w)
			}
		}
	}
	if err != nil {
		return nil, err
	}
	if paths.Prefix == "" {
		paths.Prefix = nginxconf.ConfDir(path)
	}
	paths.ConfPrefix = nginxconf.ConfDir(path) // a file named with variables is read from there, as nginx
	cfg, err := config.LoadBytesPaths(path+" (converted)", res.YAML, paths)
	if err != nil {
		return nil, err
	}
	cfg.Source = path // a reload (SIGHUP) reads and converts the nginx file again
	return cfg, nil
}

// globalsIgnored are main-context directives -g may carry that mean nothing
// for spillway's one foreground process (nginx-tests pass "daemon off;
// master_process off;").
var globalsIgnored = map[string]bool{"daemon": true, "master_process": true, "worker_processes": true,
	"user": true, "worker_rlimit_nofile": true, "pcre_jit": true, "lock_file": true, "timer_resolution": true}

// applyGlobals is -g for a proxy.yaml: "pid" and "error_log" replace the
// file's (a nginx.conf gets them through the converter instead).
func applyGlobals(cfg *config.Config, ds []*nginxconf.Directive) error {
	abs := func(p string) string {
		if p != "stderr" && !filepath.IsAbs(p) {
			return filepath.Join(cfg.Prefix, p)
		}
		return p
	}
	for _, d := range ds {
		switch {
		case d.IsBlock:
			return fmt.Errorf("%q directive is not allowed here in command line", d.Name)
		case d.Name == "pid" && len(d.Args) == 1:
			cfg.PID = abs(d.Args[0])
		case d.Name == "error_log" && (len(d.Args) == 1 || len(d.Args) == 2):
			cfg.ErrorLog.Path = abs(d.Args[0])
			if len(d.Args) == 2 {
				l, err := config.ParseLevel(d.Args[1])
				if err != nil {
					return fmt.Errorf("invalid log level %q in command line", d.Args[1])
				}
				cfg.ErrorLog.Level = l
			}
		case d.Name == "pid" || d.Name == "error_log":
			return fmt.Errorf("invalid number of arguments in %q directive in command line", d.Name)
		case globalsIgnored[d.Name]:
		default:
			return fmt.Errorf("unknown directive %q in command line", d.Name)
		}
	}
	return nil
}

// errCheckFailed makes a configuration test exit 1 after it printed nginx's
// "test failed" line itself.
var errCheckFailed = errors.New("configuration test failed")

// testConfig is nginx -t (dump: -T, quiet: -q): the configuration is read
// and every running object serve would build is built, logs opened and temp
// directories made, without listening. The verdict goes to out (stderr), the
// dump to dumpOut (stdout), as with nginx.
func testConfig(src *source, out, dumpOut io.Writer, quiet, dump bool) error {
	path := src.path()
	cfg, err := src.load(out)
	if err == nil {
		err = dryRun(cfg)
	}
	if err != nil {
		for _, line := range strings.Split(strings.TrimSpace(err.Error()), "\n") {
			fmt.Fprintf(out, "spillway: [emerg] %s\n", line)
		}
		fmt.Fprintf(out, "spillway: configuration file %s test failed\n", path)
		return errCheckFailed
	}
	if !quiet {
		fmt.Fprintf(out, "spillway: the configuration file %s syntax is ok\n", path)
		fmt.Fprintf(out, "spillway: configuration file %s test is successful\n", path)
	}
	if dump {
		return dumpConfig(path, dumpOut)
	}
	return nil
}

// dryRun builds what serve builds from cfg (the log_format compiled, the
// logs opened, the temp directories made, upstream groups, TLS) and closes
// it again, so that check refuses whatever serve would refuse, except a
// listen address in use.
func dryRun(cfg *config.Config) error {
	if err := ensureDirs(cfg); err != nil {
		return err
	}
	elog, err := errorlog.Open(cfg.ErrorLog.Path, cfg.ErrorLog.Level, errorlog.Options{})
	if err != nil {
		return err
	}
	defer elog.Close()
	p, err := proxy.New(cfg, proxy.Options{ErrorLog: elog})
	if err != nil {
		return err
	}
	return p.Close()
}

// dumpConfig is -T's part: every file the configuration was read from
// (nginx.conf and its includes) under nginx's "# configuration file" line,
// and for a proxy.yaml the SPILLWAY_* variables that override it.
func dumpConfig(path string, w io.Writer) error {
	files := []string{path}
	if nginxconf.IsNginxFile(path) {
		ds, err := nginxconf.ParseFile(path, nginxconf.ParseOptions{})
		if err != nil {
			return err
		}
		files = configFiles(ds, files[:0], map[string]bool{})
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		abs, _ := filepath.Abs(f)
		fmt.Fprintf(w, "# configuration file %s:\n%s\n", abs, b)
	}
	if !nginxconf.IsNginxFile(path) {
		for _, kv := range config.EnvOverrides() {
			fmt.Fprintf(w, "# overridden by the environment: %s\n", kv)
		}
	}
	return nil
}

// configFiles lists the files directives came from, in reading order.
func configFiles(ds []*nginxconf.Directive, files []string, seen map[string]bool) []string {
	for _, d := range ds {
		if !seen[d.File] {
			seen[d.File] = true
			files = append(files, d.File)
		}
		files = configFiles(d.Block, files, seen)
	}
	return files
}

// versionLine is nginx -v's line with spillway's name.
func versionLine() string { return "spillway version: spillway/" + version }

// versionDetails is what -V adds: the toolchain, the VCS revision and the
// build date, and the defaults nginx shows as configure arguments.
func versionDetails() string {
	rev, date, modified := revision, buildDate, false
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if rev == "" {
					rev = s.Value
				}
			case "vcs.time":
				if date == "" {
					date = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if rev == "" {
		rev = "unknown"
	} else if modified {
		rev += "+modified"
	}
	if date == "" {
		date = "unknown"
	}
	return fmt.Sprintf("built with %s %s/%s, revision %s, build date %s\n"+
		"configure arguments: --prefix=<the configuration file's directory> --conf-path=proxy.yaml --error-log-path=logs/error.log\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, rev, date)
}
