package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// LimitExcept is a location's limit_except block (ngx_http_core_module):
// a request whose method it does not list is served with Location, the
// block's own directives over the enclosing location's, in place of the
// location itself (ngx_http_update_location_config). nginx merges the
// block like a nested location, except the rewrite module's directives,
// try_files and stub_status, which it does not inherit: for such a
// request the location's rewrite, set, if and return do not run, and a
// location that answered with return serves files instead (measured with
// nginx 1.22: "POST" to "location / { limit_except GET { allow all; }
// return 200; }" is 404 from the root). A proxy_pass (fastcgi_pass,
// uwsgi_pass, grpc_pass) of the location is inherited when the block has
// none of its own, with its URI part (ngx_http_proxy_merge_loc_conf's
// lmt_excpt rule).
type LimitExcept struct {
	// Methods are the methods that keep the location, upper case; GET
	// brings HEAD, as in nginx.
	Methods []string
	// Location serves every other method, nginx's unknown ones included.
	Location *Location
}

// Allows reports whether a request's method keeps the location. nginx
// knows methods by their upper-case names only: any other is denied.
func (le *LimitExcept) Allows(method []byte) bool {
	for _, m := range le.Methods {
		if string(method) == m {
			return true
		}
	}
	return false
}

// limitExceptMethods are the names limit_except takes (ngx_methods_names
// in nginx 1.22), matched without regard to case.
var limitExceptMethods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "MKCOL", "COPY", "MOVE",
	"OPTIONS", "PROPFIND", "PROPPATCH", "LOCK", "UNLOCK", "PATCH"}

// rawLimitExcept is a location's limit_except key: the methods, and the
// directives nginx allows in the block (NGX_HTTP_LMT_CONF: allow/deny,
// auth_basic*, proxy_pass, access_log); any other is "not allowed here".
type rawLimitExcept struct {
	Methods           *opt[words]        `mapstructure:"methods"`
	Access            *opt[[]AccessRule] `mapstructure:"access"`
	AuthBasic         *opt[string]       `mapstructure:"auth_basic"`
	AuthBasicUserFile *opt[string]       `mapstructure:"auth_basic_user_file"`
	ProxyPass         *opt[string]       `mapstructure:"proxy_pass"`
	AccessLog         *opt[[]AccessLog]  `mapstructure:"access_log"`
}

// ParseLimitExceptMethods checks limit_except's arguments as nginx -t
// does and returns the methods that keep the location, upper case, HEAD
// added for GET.
func ParseLimitExceptMethods(args []string) ([]string, error) {
	if len(args) == 0 {
		return nil, errors.New(`invalid number of arguments in "limit_except" directive`)
	}
	var out []string
	for _, a := range args {
		i := slices.IndexFunc(limitExceptMethods, func(m string) bool { return strings.EqualFold(m, a) })
		if i < 0 {
			return nil, fmt.Errorf(`invalid method "%s"`, a)
		}
		if !slices.Contains(out, limitExceptMethods[i]) {
			out = append(out, limitExceptMethods[i])
		}
	}
	if slices.Contains(out, "GET") && !slices.Contains(out, "HEAD") {
		out = append(out, "HEAD")
	}
	return out, nil
}

// resolveLimitExcept resolves l's limit_except block (key is the
// location's): the enclosing location's directives as nginx merges them
// into the block, the block's own over them.
func (l *rawLocation) resolveLimitExcept(key string, upstreams map[string]bool, p *problems) *LimitExcept {
	le := l.LimitExcept
	if le == nil {
		return nil
	}
	key += ".limit_except"
	methods, err := ParseLimitExceptMethods(le.Methods.or(nil))
	if err != nil {
		p.add(joinKey(key, "methods"), "%v", err)
	}
	inner := *l
	inner.Rewrite, inner.Return, inner.TryFiles, inner.StubStatus, inner.Internal = nil, nil, nil, nil, nil
	inner.Locations, inner.LimitExcept, inner.lmtBlock = nil, nil, true
	if le.ProxyPass.set() {
		if pp, err := parseProxyPass(le.ProxyPass.v, upstreams); err == nil && pp.HasURI {
			p.add(le.ProxyPass.at(), `"proxy_pass" cannot have URI part in location given by regular expression, or inside named location, or inside "if" statement, or inside "limit_except" block`)
		}
		inner.modulePasses = modulePasses{ProxyPass: le.ProxyPass}
	}
	merge(&le.Access, l.Access)
	merge(&le.AuthBasic, l.AuthBasic)
	merge(&le.AuthBasicUserFile, l.AuthBasicUserFile)
	merge(&le.AccessLog, l.AccessLog)
	inner.Access, inner.AuthBasic, inner.AuthBasicUserFile, inner.AccessLog = le.Access, le.AuthBasic, le.AuthBasicUserFile, le.AccessLog
	if !inner.passesUpstream() && !inner.servesFiles() && !inner.accessDirectives.deniesAll() {
		p.add(key, `the methods limit_except does not list would reach no content in spillway: the location's own answer (return, stub_status, try_files) is not theirs in nginx, which serves them files from its root; give the location a root, or deny them all`)
	}
	return &LimitExcept{Methods: methods, Location: resolveLocation(&inner, key, upstreams, p)}
}
