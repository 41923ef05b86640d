package config

import (
	"fmt"
	"strings"
)

// uwsgi (ngx_http_uwsgi_module): uwsgi_pass runs the same pipeline as
// proxy_pass and fastcgi_pass. Its uwsgi_* buffer, timeout, retry and
// header directives are the shared set of modules.go, resolved into
// Location.Upstream, so only the wire protocol differs: a uwsgi packet (the
// uwsgi_param values) and the request body, answered with plain HTTP.

// Uwsgi is a location's uwsgi_pass and what only uwsgi needs.
type Uwsgi struct {
	// Params are the uwsgi_param directives in order (nginx sends none by
	// default: "include uwsgi_params" is what writes them).
	Params    []FastCGIParam
	Modifier1 int // uwsgi_modifier1: the packet's first byte, default 0
	Modifier2 int // uwsgi_modifier2: its last byte, default 0
}

// UwsgiParams is the content of Debian's /etc/nginx/uwsgi_params, which
// "include uwsgi_params" reads: nginx's file, with HTTP_HOST set from $host
// (Debian's security workaround for a client-supplied Host).
const UwsgiParams = `uwsgi_param  QUERY_STRING       $query_string;
uwsgi_param  REQUEST_METHOD     $request_method;
uwsgi_param  CONTENT_TYPE       $content_type;
uwsgi_param  CONTENT_LENGTH     $content_length;

uwsgi_param  REQUEST_URI        $request_uri;
uwsgi_param  PATH_INFO          $document_uri;
uwsgi_param  DOCUMENT_ROOT      $document_root;
uwsgi_param  SERVER_PROTOCOL    $server_protocol;
uwsgi_param  REQUEST_SCHEME     $scheme;
uwsgi_param  HTTPS              $https if_not_empty;

uwsgi_param  REMOTE_ADDR        $remote_addr;
uwsgi_param  REMOTE_PORT        $remote_port;
uwsgi_param  SERVER_PORT        $server_port;
uwsgi_param  SERVER_NAME        $server_name;

uwsgi_param  HTTP_HOST        $host;
`

// uwsgiDirectives may be written in http, a server and a location.
type uwsgiDirectives struct {
	UwsgiParam     *opt[[]Header] `mapstructure:"uwsgi_param"`
	UwsgiModifier1 *opt[int]      `mapstructure:"uwsgi_modifier1"`
	UwsgiModifier2 *opt[int]      `mapstructure:"uwsgi_modifier2"`
}

// inherit is merge_loc_conf for the uwsgi directives.
func (d *uwsgiDirectives) inherit(p *uwsgiDirectives) {
	merge(&d.UwsgiParam, p.UwsgiParam)
	merge(&d.UwsgiModifier1, p.UwsgiModifier1)
	merge(&d.UwsgiModifier2, p.UwsgiModifier2)
}

// check is nginx -t's check of the uwsgi-only directives (the shared
// uwsgi_* set is checked in modules.go).
func (d *uwsgiDirectives) check(p *problems) {
	for _, o := range []*opt[int]{d.UwsgiModifier1, d.UwsgiModifier2} {
		if o.set() && (o.v < 0 || o.v > 255) {
			p.add(o.at(), `invalid value "%d" in %q: want 0 to 255`, o.v, directiveOf(o.at()))
		}
	}
	for i, h := range d.UwsgiParam.or(nil) {
		v, _, _ := splitIfNotEmpty(h.Value)
		p.checkVariables(p.headerKey(d.UwsgiParam, i), "uwsgi_param "+h.Name, v)
	}
}

// resolveUwsgi fills in a location's uwsgi settings (resolveLocation
// resolves the shared uwsgi_* set into Upstream).
func (l *rawLocation) resolveUwsgi(loc *Location, upstreams map[string]bool, p *problems) {
	d := &l.uwsgiDirectives
	d.check(p)
	if !l.UwsgiPass.set() {
		return
	}
	pp, err := parseUwsgiPass(l.UwsgiPass.v, upstreams)
	if err != nil {
		p.add(l.UwsgiPass.at(), "%v", err)
	}
	loc.ProxyPass = pp
	u := &Uwsgi{Modifier1: d.UwsgiModifier1.or(0), Modifier2: d.UwsgiModifier2.or(0)}
	p.headersAsWritten(d.UwsgiParam)
	for _, h := range d.UwsgiParam.or(nil) {
		v, ifNotEmpty, _ := splitIfNotEmpty(h.Value)
		u.Params = append(u.Params, FastCGIParam{Name: h.Name, Value: v, IfNotEmpty: ifNotEmpty})
	}
	loc.Uwsgi = u
	loc.ProxySetHeader = nil
}

// parseUwsgiPass parses uwsgi_pass: an http.upstreams name, host:port or
// unix:/path, optionally with nginx's uwsgi:// scheme (suwsgi:// is TLS,
// which spillway does not speak).
func parseUwsgiPass(s string, upstreams map[string]bool) (ProxyPass, error) {
	a := strings.TrimSpace(s)
	if strings.HasPrefix(a, "suwsgi://") {
		return ProxyPass{Scheme: "uwsgi", Host: a}, fmt.Errorf(`invalid uwsgi_pass %q: suwsgi (uwsgi over TLS) is not supported`, s)
	}
	a = strings.TrimPrefix(a, "uwsgi://")
	pp := ProxyPass{Scheme: "uwsgi", Host: a}
	if name := strings.ToLower(a); upstreams[name] {
		pp.Upstream = name
		return pp, nil
	}
	if strings.Contains(a, "://") {
		return pp, fmt.Errorf(`invalid uwsgi_pass %q: want an upstream name, host:port or unix:/path`, s)
	}
	addr, err := upstreamAddress(a)
	if err != nil {
		return pp, err
	}
	if !strings.HasPrefix(a, "unix:") && !strings.Contains(a, ":") {
		return pp, fmt.Errorf(`host not found in upstream %q: it is not in http.upstreams, and an address needs a port ("%s:3031")`, a, a)
	}
	pp.Host = addr
	return pp, nil
}
