package config

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// FastCGI (ngx_http_fastcgi_module) and lingering close
// (ngx_http_core_module). A location with fastcgi_pass runs the same
// pipeline as proxy_pass: its fastcgi_* buffer, timeout and retry
// directives are the shared set of modules.go, resolved into
// Location.Upstream, so only the wire protocol differs. This file has what
// only FastCGI has.

// FastCGI is a location's fastcgi_pass and what only FastCGI needs.
type FastCGI struct {
	Params []FastCGIParam // fastcgi_params' set (unless none), then fastcgi_param, in order
	Index  string         // fastcgi_index: appended to a $fastcgi_script_name that ends in "/"
	// SplitPathInfo is fastcgi_split_path_info: two captures, the script
	// name and the path info; nil when not set.
	SplitPathInfo *regexp.Regexp
	KeepConn      bool // fastcgi_keep_conn: ask the application to keep the connection
}

// FastCGIParam is one fastcgi_param: a name and a value with variables.
type FastCGIParam struct {
	Name       string
	Value      string
	IfNotEmpty bool // sent only when the value is not empty
}

// Lingering is lingering_close, lingering_time and lingering_timeout.
type Lingering struct {
	Close   LingerMode    // default LingerOn
	Time    time.Duration // the longest lingering close, default 30s
	Timeout time.Duration // the longest wait for more client data, default 5s
}

// LingerMode is lingering_close's value.
type LingerMode uint8

const (
	LingerOn     LingerMode = iota // when the client may still be sending (an unread body)
	LingerOff                      // close at once
	LingerAlways                   // after every response that closes the connection
)

const (
	defaultRoot             = "html"
	defaultLingeringTime    = 30 * time.Second
	defaultLingeringTimeout = 5 * time.Second
)

// DefaultFastCGIParams is nginx's fastcgi.conf (fastcgi_params plus
// SCRIPT_FILENAME), sent when fastcgi_params is "default" (the default).
// SERVER_SOFTWARE names spillway.
func DefaultFastCGIParams() []FastCGIParam {
	return []FastCGIParam{
		{Name: "SCRIPT_FILENAME", Value: "$document_root$fastcgi_script_name"},
		{Name: "QUERY_STRING", Value: "$query_string"},
		{Name: "REQUEST_METHOD", Value: "$request_method"},
		{Name: "CONTENT_TYPE", Value: "$content_type"},
		{Name: "CONTENT_LENGTH", Value: "$content_length"},
		{Name: "SCRIPT_NAME", Value: "$fastcgi_script_name"},
		{Name: "REQUEST_URI", Value: "$request_uri"},
		{Name: "DOCUMENT_URI", Value: "$document_uri"},
		{Name: "DOCUMENT_ROOT", Value: "$document_root"},
		{Name: "SERVER_PROTOCOL", Value: "$server_protocol"},
		{Name: "REQUEST_SCHEME", Value: "$scheme"},
		{Name: "HTTPS", Value: "$https", IfNotEmpty: true},
		{Name: "GATEWAY_INTERFACE", Value: "CGI/1.1"},
		{Name: "SERVER_SOFTWARE", Value: "spillway"},
		{Name: "REMOTE_ADDR", Value: "$remote_addr"},
		{Name: "REMOTE_PORT", Value: "$remote_port"},
		{Name: "REMOTE_USER", Value: "$remote_user"},
		{Name: "SERVER_ADDR", Value: "$server_addr"},
		{Name: "SERVER_PORT", Value: "$server_port"},
		{Name: "SERVER_NAME", Value: "$server_name"},
		{Name: "REDIRECT_STATUS", Value: "200"},
	}
}

// fastcgiLocationDirectives may only be written in a location.
type fastcgiLocationDirectives struct {
	FastcgiSplitPathInfo *opt[string] `mapstructure:"fastcgi_split_path_info"`
}

// fastcgiDirectives may be written in http, a server and a location.
type fastcgiDirectives struct {
	FastcgiParam  *opt[[]Header] `mapstructure:"fastcgi_param"`
	FastcgiParams *opt[string]   `mapstructure:"fastcgi_params"`
	FastcgiIndex  *opt[string]   `mapstructure:"fastcgi_index"`

	FastcgiKeepConn *opt[bool] `mapstructure:"fastcgi_keep_conn"`

	Root *opt[string] `mapstructure:"root"`

	LingeringClose   *opt[string]        `mapstructure:"lingering_close"`
	LingeringTime    *opt[time.Duration] `mapstructure:"lingering_time"`
	LingeringTimeout *opt[time.Duration] `mapstructure:"lingering_timeout"`
}

// inherit is merge_loc_conf for the FastCGI and lingering directives.
func (d *fastcgiDirectives) inherit(p *fastcgiDirectives) {
	merge(&d.FastcgiParam, p.FastcgiParam)
	merge(&d.FastcgiParams, p.FastcgiParams)
	merge(&d.FastcgiIndex, p.FastcgiIndex)
	merge(&d.FastcgiKeepConn, p.FastcgiKeepConn)
	merge(&d.Root, p.Root)
	merge(&d.LingeringClose, p.LingeringClose)
	merge(&d.LingeringTime, p.LingeringTime)
	merge(&d.LingeringTimeout, p.LingeringTimeout)
}

// check is nginx -t's check of the FastCGI-only directives and of the
// values spillway parses (the shared fastcgi_* set is checked in
// modules.go).
func (d *fastcgiDirectives) check(p *problems) {
	if o := d.FastcgiParams; o.set() && o.v != "default" && o.v != "none" {
		p.add(o.at(), `invalid value %q in "fastcgi_params": want default or none`, o.v)
	}
	if o := d.LingeringClose; o.set() && o.v != "on" && o.v != "off" && o.v != "always" {
		p.add(o.at(), `invalid value %q in "lingering_close" directive, it must be "on", "off" or "always"`, o.v)
	}
	for _, o := range []*opt[time.Duration]{d.LingeringTime, d.LingeringTimeout} {
		if o.set() && o.v <= 0 {
			p.add(o.at(), "%q must be greater than 0", directiveOf(o.at()))
		}
	}
	for i, h := range d.FastcgiParam.or(nil) {
		v, _, err := splitIfNotEmpty(h.Value)
		if err != nil {
			p.add(d.FastcgiParam.at(), "fastcgi_param %s: %v", h.Name, err)
			continue
		}
		p.checkVariables(p.headerKey(d.FastcgiParam, i), "fastcgi_param "+h.Name, v)
	}
}

// splitIfNotEmpty splits fastcgi_param's "VALUE [if_not_empty]".
func splitIfNotEmpty(v string) (string, bool, error) {
	f := strings.Fields(v)
	if n := len(f); n > 1 && f[n-1] == "if_not_empty" {
		return strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "if_not_empty")), true, nil
	}
	return v, false, nil
}

// resolveFastCGI fills in a location's FastCGI and lingering settings
// (resolveLocation resolves the shared fastcgi_* set into Upstream).
func (l *rawLocation) resolveFastCGI(loc *Location, key string, upstreams map[string]bool, p *problems) {
	d := &l.fastcgiDirectives
	d.check(p)
	loc.Root = d.Root.or(defaultRoot)
	loc.Lingering = Lingering{
		Close:   lingerMode(d.LingeringClose.or("on")),
		Time:    d.LingeringTime.or(defaultLingeringTime),
		Timeout: d.LingeringTimeout.or(defaultLingeringTimeout),
	}
	if l.FastcgiSplitPathInfo.set() && !l.FastcgiPass.set() {
		p.add(l.FastcgiSplitPathInfo.at(), `"fastcgi_split_path_info" needs "fastcgi_pass" in the same location`)
	}
	if !l.FastcgiPass.set() {
		return
	}
	pp, err := parseFastCGIPass(l.FastcgiPass.v, upstreams)
	if err != nil {
		p.add(l.FastcgiPass.at(), "%v", err)
	}
	loc.ProxyPass = pp
	fc := &FastCGI{Index: d.FastcgiIndex.or(""), KeepConn: d.FastcgiKeepConn.or(false)}
	if d.FastcgiParams.or("default") == "default" {
		fc.Params = DefaultFastCGIParams()
	}
	p.headersAsWritten(d.FastcgiParam)
	for _, h := range d.FastcgiParam.or(nil) {
		v, ifNotEmpty, _ := splitIfNotEmpty(h.Value)
		fp := FastCGIParam{Name: h.Name, Value: v, IfNotEmpty: ifNotEmpty}
		replaced := false
		for i := range fc.Params {
			if fc.Params[i].Name == fp.Name { // a set param replaces the default of that name
				fc.Params[i], replaced = fp, true
			}
		}
		if !replaced {
			fc.Params = append(fc.Params, fp)
		}
	}
	if o := l.FastcgiSplitPathInfo; o.set() {
		re, err := compilePCRE(o.v, false)
		switch {
		case err != nil:
			p.add(o.at(), "invalid regular expression %q in fastcgi_split_path_info: %v", o.v, err)
		case re.NumSubexp() != 2:
			p.add(o.at(), `pattern "%s" must have 2 captures`, o.v)
		default:
			fc.SplitPathInfo = re
		}
	}
	loc.FastCGI = fc
	loc.ProxySetHeader = nil
}

func lingerMode(s string) LingerMode {
	switch s {
	case "off":
		return LingerOff
	case "always":
		return LingerAlways
	}
	return LingerOn
}

// parseFastCGIPass parses fastcgi_pass: an http.upstreams name or
// host:port (nginx takes no scheme here; "fastcgi://" is what it logs).
func parseFastCGIPass(s string, upstreams map[string]bool) (ProxyPass, error) {
	a := strings.TrimSpace(s)
	pp := ProxyPass{Scheme: "fastcgi", Host: a}
	if name := strings.ToLower(a); upstreams[name] {
		pp.Upstream = name
		return pp, nil
	}
	if strings.Contains(a, "://") {
		return pp, fmt.Errorf(`invalid fastcgi_pass %q: want an upstream name or host:port, without a scheme`, s)
	}
	addr, err := upstreamAddress(a)
	if err != nil {
		return pp, err
	}
	if !strings.Contains(a, ":") {
		return pp, fmt.Errorf(`host not found in upstream %q: it is not in http.upstreams, and an address needs a port ("%s:9000")`, a, a)
	}
	pp.Host = addr
	return pp, nil
}
