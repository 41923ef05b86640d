package config

import (
	"fmt"
	"slices"
	"strings"

	"spillway/proxy/vars"
)

// AuthRequest is auth_request and auth_request_set in effect at a level
// (ngx_http_auth_request_module); each is inherited on its own. A request
// the access phase reaches is authorized by a subrequest to URI, routed
// like a client's request (usually to an "internal" location that
// proxies to the auth service): 2xx lets it on, 401 and 403 are the
// answer, anything else is 500. Set is evaluated once the subrequest has
// its answer, with the subrequest's variables ($upstream_http_x_user).
type AuthRequest struct {
	URI string           // the subrequest's URI, as written; "" = off
	Set []AuthRequestSet // auth_request_set, in file order
}

// AuthRequestSet is one auth_request_set: "$variable value".
type AuthRequestSet struct {
	Variable string // the name, without '$', lower case (nginx's names are)
	Value    string // a value with variables, evaluated in the subrequest
}

// authRequestDirectives are auth_request and auth_request_set (http,
// server, location).
type authRequestDirectives struct {
	AuthRequest    *opt[string]           `mapstructure:"auth_request"`
	AuthRequestSet *opt[[]AuthRequestSet] `mapstructure:"auth_request_set"`
}

func (d *authRequestDirectives) inherit(p *authRequestDirectives) {
	merge(&d.AuthRequest, p.AuthRequest)
	merge(&d.AuthRequestSet, p.AuthRequestSet)
}

// authRequest returns the auth_request in effect at the level.
func (d *authRequestDirectives) authRequest() AuthRequest {
	a := AuthRequest{URI: d.AuthRequest.or("off"), Set: d.AuthRequestSet.or(nil)}
	if a.URI == "off" {
		a.URI = ""
	}
	return a
}

// check checks auth_request's URI and auth_request_set's values.
func (d *authRequestDirectives) check(p *problems) {
	if u := d.AuthRequest.or("off"); u != "off" && (!strings.HasPrefix(u, "/") || strings.ContainsAny(u, " \t?#")) {
		p.add(d.AuthRequest.at(), `"auth_request" wants "off" or a URI starting with "/" (no query), got %q`, u)
	}
	for i, s := range d.AuthRequestSet.or(nil) {
		key := fmt.Sprintf("%s[%d]", d.AuthRequestSet.at(), i)
		if vars.Builtin(s.Variable) {
			p.add(key, `auth_request_set: the duplicate %q variable (nginx's own)`, s.Variable)
			continue
		}
		p.checkVariables(key, "auth_request_set $"+s.Variable, s.Value)
	}
}

// authRequestSetsFrom decodes auth_request_set: a list of nginx's
// "$variable value" strings, or of one-key mappings {$variable: value},
// or a mapping of them (file order is kept for a list only; the values do
// not depend on each other's order).
func authRequestSetsFrom(in any) ([]AuthRequestSet, error) {
	list, ok := pairList(in)
	if !ok {
		return nil, fmt.Errorf(`expected a list like ["$user $upstream_http_x_user"], got %s`, kindOf(in))
	}
	out := make([]AuthRequestSet, 0, len(list))
	for _, e := range list {
		var name, value string
		switch e := e.(type) {
		case string:
			f := strings.Fields(e)
			if len(f) != 2 {
				return nil, fmt.Errorf(`each entry is "$variable value", got %q`, e)
			}
			name, value = f[0], f[1]
		case map[string]any:
			if len(e) != 1 {
				return nil, fmt.Errorf(`each entry sets one variable, like "$user: $upstream_http_x_user"; got %d in one entry`, len(e))
			}
			for k, v := range e {
				s, ok := v.(string)
				if !ok {
					return nil, fmt.Errorf("the value of %s must be a string, got %s", k, kindOf(v))
				}
				name, value = k, s
			}
		default:
			return nil, fmt.Errorf(`expected "$variable value" entries, got %s`, kindOf(e))
		}
		v, ok := strings.CutPrefix(name, "$")
		if !ok || v == "" || strings.TrimFunc(v, isVarNameRune) != "" {
			return nil, fmt.Errorf("invalid variable name %q", name)
		}
		out = append(out, AuthRequestSet{Variable: strings.ToLower(v), Value: value})
	}
	return out, nil
}

func isVarNameRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_'
}

// authRequestSetNames are the variables every auth_request_set of the
// file assigns: nginx adds them to the http block's variables, so each is
// in scope in every value (a request that did not set it finds it empty).
func authRequestSetNames(h *rawHTTP) []string {
	var names []string
	add := func(d *authRequestDirectives) {
		for _, s := range d.AuthRequestSet.or(nil) {
			if !slices.Contains(names, s.Variable) {
				names = append(names, s.Variable)
			}
		}
	}
	add(&h.authRequestDirectives)
	for i := range h.Servers {
		s := &h.Servers[i]
		add(&s.authRequestDirectives)
		walkLocations(s.Locations, nil, func(l *rawLocation, _ *locationDirectives) { add(&l.authRequestDirectives) })
	}
	return names
}
