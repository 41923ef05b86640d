package config

import (
	"fmt"
	"net/netip"
	"strings"
)

// Access control (nginx's ngx_http_access_module): allow and deny.
//
// nginx's allow and deny are two directives whose relative order matters
// ("deny 10.0.0.1; allow 10.0.0.0/8; deny all;"), which two YAML keys
// cannot keep; proxy.yaml writes them as one ordered list, access, whose
// entries are nginx's directives as written: ["allow 10.0.0.0/8", "deny
// all"] or [{allow: 10.0.0.0/8}, {deny: all}]. Like any location directive
// it is inherited, and a level that sets it replaces the inherited list as
// a whole, which is nginx's rule for allow/deny too.

// AccessRule is one allow or deny.
type AccessRule struct {
	Deny bool
	All  bool         // "all": every client, whatever its address family
	Unix bool         // "unix:": clients on a UNIX-domain socket
	Net  netip.Prefix // otherwise: an address or CIDR block, masked
	Text string       // "deny 10.0.0.0/8", as written
}

// AccessRules is an access list in file order, kept per address family as
// nginx keeps it (rules, rules6, rules_un): "all" is in every family's list.
type AccessRules struct {
	Rules []AccessRule // as written
	v4    []AccessRule
	v6    []AccessRule
	unix  []AccessRule
}

// newAccessRules sorts rules into nginx's per-family lists.
func newAccessRules(rules []AccessRule) AccessRules {
	a := AccessRules{Rules: rules}
	for _, r := range rules {
		switch {
		case r.All:
			a.v4, a.v6, a.unix = append(a.v4, r), append(a.v6, r), append(a.unix, r)
		case r.Unix:
			a.unix = append(a.unix, r)
		case r.Net.Addr().Is4():
			a.v4 = append(a.v4, r)
		default:
			a.v6 = append(a.v6, r)
		}
	}
	return a
}

// AccessVerdict is what an access list says about a client.
type AccessVerdict uint8

const (
	AccessNoMatch AccessVerdict = iota // no rule matches: nginx's NGX_DECLINED
	AccessAllow                        // an allow rule matches
	AccessDeny                         // a deny rule matches
)

// Empty reports whether no allow or deny applies.
func (a *AccessRules) Empty() bool { return len(a.Rules) == 0 }

// DeniesAll reports whether the rules refuse every client: a "deny all"
// that no "allow" comes before. Such a location needs no proxy_pass, as
// in nginx, where its content handler is never reached.
func (a *AccessRules) DeniesAll() bool {
	for _, r := range a.Rules {
		if !r.Deny {
			return false
		}
		if r.All {
			return true
		}
	}
	return false
}

// Denies is ngx_http_access_handler for a TCP client at addr: the first
// rule of the client's address family that matches decides; none matching
// (or no rule for the family) allows. An IPv4-mapped IPv6 client is checked
// as IPv4 when there are IPv4 rules, as nginx does.
func (a *AccessRules) Denies(addr netip.Addr) bool { return a.Check(addr) == AccessDeny }

// Check is the verdict of the first matching rule of the client's family.
func (a *AccessRules) Check(addr netip.Addr) AccessVerdict {
	switch {
	case addr.Is4():
		return firstMatch(a.v4, addr)
	case addr.Is4In6() && len(a.v4) > 0:
		return firstMatch(a.v4, addr.Unmap())
	default:
		return firstMatch(a.v6, addr)
	}
}

// DeniesUnix is the check for a client on a UNIX-domain socket.
func (a *AccessRules) DeniesUnix() bool { return a.CheckUnix() == AccessDeny }

// CheckUnix is the verdict for a client on a UNIX-domain socket.
func (a *AccessRules) CheckUnix() AccessVerdict {
	if len(a.unix) == 0 {
		return AccessNoMatch
	}
	return verdict(a.unix[0]) // every unix-list rule ("unix:" or "all") matches
}

func firstMatch(rules []AccessRule, addr netip.Addr) AccessVerdict {
	for _, r := range rules {
		if r.All || r.Net.Contains(addr) {
			return verdict(r)
		}
	}
	return AccessNoMatch
}

func verdict(r AccessRule) AccessVerdict {
	if r.Deny {
		return AccessDeny
	}
	return AccessAllow
}

// satisfy is nginx's "satisfy all|any": true for any.
type satisfy bool

// satisfyFrom decodes satisfy: all (the default: every check must pass) or
// any (one passing check is enough).
func satisfyFrom(in any) (satisfy, error) {
	s, err := stringFrom(in)
	if err != nil {
		return false, err
	}
	switch strings.ToLower(s) {
	case "all":
		return false, nil
	case "any":
		return true, nil
	}
	return false, fmt.Errorf(`invalid value %q: want "all" or "any"`, s)
}

// SatisfyAny reports whether the level has "satisfy any".
func (d *accessDirectives) satisfyAny() bool { return bool(d.Satisfy.or(false)) }

// AuthBasic is auth_basic and auth_basic_user_file in effect at a level
// (ngx_http_auth_basic_module); each is inherited on its own.
type AuthBasic struct {
	Realm string // as written; "off" turns an inherited auth_basic off
	// UserFile is the htpasswd file, read again whenever it changes; with
	// variables, the file is the request's (read on every request, as
	// nginx does), from Config.ConfPrefix when the name is relative.
	UserFile string
	set      bool // auth_basic is set at this level or above
}

// Enabled is nginx's test: both directives in effect and the realm not
// "off". As in nginx, auth_basic without auth_basic_user_file asks nothing.
func (a AuthBasic) Enabled() bool { return a.set && a.Realm != "off" && a.UserFile != "" }

// accessDirectives are the access-phase directives (http, server,
// location): allow/deny and basic authentication.
type accessDirectives struct {
	Satisfy           *opt[satisfy]      `mapstructure:"satisfy"`
	Access            *opt[[]AccessRule] `mapstructure:"access"`
	AuthBasic         *opt[string]       `mapstructure:"auth_basic"`
	AuthBasicUserFile *opt[string]       `mapstructure:"auth_basic_user_file"`

	authRequestDirectives `mapstructure:",squash"` // auth_request, auth_request_set (authrequest.go)
}

func (d *accessDirectives) inherit(p *accessDirectives) {
	merge(&d.Satisfy, p.Satisfy)
	merge(&d.Access, p.Access)
	merge(&d.AuthBasic, p.AuthBasic)
	merge(&d.AuthBasicUserFile, p.AuthBasicUserFile)
	d.authRequestDirectives.inherit(&p.authRequestDirectives)
}

// authBasic returns basic authentication in effect at the level.
func (d *accessDirectives) authBasic() AuthBasic {
	return AuthBasic{Realm: d.AuthBasic.or(""), UserFile: d.AuthBasicUserFile.or(""), set: d.AuthBasic.set()}
}

// check checks the access directives in effect at one level.
func (d *accessDirectives) check(p *problems) {
	if d.AuthBasicUserFile.set() && strings.TrimSpace(d.AuthBasicUserFile.v) == "" {
		p.add(d.AuthBasicUserFile.at(), `"auth_basic_user_file" must not be empty`)
	}
	if d.AuthBasicUserFile.set() && strings.Contains(d.AuthBasicUserFile.v, "$") {
		p.checkVariables(d.AuthBasicUserFile.at(), "auth_basic_user_file", d.AuthBasicUserFile.v)
	}
	d.authRequestDirectives.check(p)
}

// resolve returns the access list in effect at the level.
func (d *accessDirectives) resolve() AccessRules { return newAccessRules(d.Access.or(nil)) }

// deniesAll reports whether the level's access phase refuses everyone:
// its list denies every client, and no password can let one in instead.
func (d *accessDirectives) deniesAll() bool {
	a := d.resolve()
	return a.DeniesAll() && !(d.satisfyAny() && (d.authBasic().Enabled() || d.authRequest().URI != ""))
}

// accessRulesFrom decodes access: a list whose entries are nginx's "allow
// ADDR" / "deny ADDR" or one-key mappings {allow: ADDR}; a string is one
// rule, or several separated by ";" as in nginx ("allow 10.0.0.0/8; deny
// all", which is also how an environment variable sets it).
func accessRulesFrom(in any) ([]AccessRule, error) {
	var list []any
	switch x := in.(type) {
	case []any:
		list = x
	case string:
		for _, s := range strings.Split(x, ";") {
			if strings.TrimSpace(s) != "" {
				list = append(list, s)
			}
		}
	default:
		return nil, fmt.Errorf(`expected a list like ["allow 10.0.0.0/8", "deny all"], got %s`, kindOf(in))
	}
	rules := make([]AccessRule, 0, len(list))
	for _, e := range list {
		var verb, arg string
		switch e := e.(type) {
		case string:
			f := strings.Fields(e)
			if len(f) != 2 {
				return nil, fmt.Errorf(`each entry is "allow ADDRESS" or "deny ADDRESS", got %q`, e)
			}
			verb, arg = f[0], f[1]
		case map[string]any:
			if len(e) != 1 {
				return nil, fmt.Errorf(`each entry is one "allow: ADDRESS" or "deny: ADDRESS", got %d keys in one entry`, len(e))
			}
			for k, v := range e {
				s, err := stringFrom(v)
				if err != nil {
					return nil, err
				}
				verb, arg = k, s
			}
		default:
			return nil, fmt.Errorf(`expected "allow ADDRESS" or "deny ADDRESS" entries, got %s`, kindOf(e))
		}
		r, err := ParseAccessRule(verb, arg)
		if err != nil {
			return nil, err
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// ParseAccessRule reads nginx's "allow ARG" or "deny ARG": ARG is all,
// unix:, an IPv4 or IPv6 address, or a CIDR block. As in nginx, address
// bits beyond the prefix length are cleared (nginx warns "low address bits
// of ... are meaningless"); anything else is nginx's `invalid parameter`.
func ParseAccessRule(verb, arg string) (AccessRule, error) {
	r := AccessRule{Text: verb + " " + arg}
	switch verb {
	case "allow":
	case "deny":
		r.Deny = true
	default:
		return r, fmt.Errorf(`unknown access rule %q: want "allow" or "deny"`, verb)
	}
	switch arg {
	case "all":
		r.All = true
		return r, nil
	case "unix:":
		r.Unix = true
		return r, nil
	}
	var p netip.Prefix
	var err error
	if strings.Contains(arg, "/") {
		p, err = netip.ParsePrefix(arg)
	} else {
		var a netip.Addr
		if a, err = netip.ParseAddr(arg); err == nil && a.Zone() == "" {
			p = netip.PrefixFrom(a, a.BitLen())
		}
	}
	if err != nil || !p.IsValid() {
		return r, fmt.Errorf("invalid parameter %q", arg)
	}
	r.Net = p.Masked()
	return r, nil
}
