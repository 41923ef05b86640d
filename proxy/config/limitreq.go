package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Request rate limiting (nginx's ngx_http_limit_req_module): zones in http
// (limit_req_zone), limits per level (limit_req), with nginx's names.

// LimitReqZone is one limit_req_zone: requests with the same key share a
// leaky bucket that drains at Rate.
type LimitReqZone struct {
	Name string
	Key  string // an nginx value: "$binary_remote_addr", "$server_name", ...
	Size int64  // the zone's memory, which bounds how many keys it keeps
	// Rate is in thousandths of a request per second, as nginx keeps it:
	// 1r/s is 1000, 30r/m is 500.
	Rate int64
	Text string // as written
}

// LimitReq is one limit_req: a zone, its burst and delay, in thousandths of
// a request (nginx's units). NoDelay is nodelay: nothing is delayed.
type LimitReq struct {
	Zone    string
	Burst   int64
	Delay   int64 // excess up to which requests are not delayed (delay=N)
	NoDelay bool
	Text    string
}

// LimitReqConf is what limit_req does at one level.
type LimitReqConf struct {
	Limits   []LimitReq // in file order; empty: no limit
	Status   int        // limit_req_status, default 503
	LogLevel Level      // limit_req_log_level, default error
	DryRun   bool       // limit_req_dry_run
}

// DelayLogLevel is the level of the "delaying request" line: one below
// limit_req_log_level, but not below info (nginx's rule).
func (c LimitReqConf) DelayLogLevel() Level {
	if c.LogLevel <= LevelInfo {
		return LevelInfo
	}
	return c.LogLevel - 1
}

// limitReqDirectives are limit_req's location directives (http, server,
// location); a level with any limit_req replaces the inherited list.
type limitReqDirectives struct {
	LimitReq         *opt[[]LimitReq] `mapstructure:"limit_req"`
	LimitReqStatus   *opt[int]        `mapstructure:"limit_req_status"`
	LimitReqLogLevel *opt[Level]      `mapstructure:"limit_req_log_level"`
	LimitReqDryRun   *opt[bool]       `mapstructure:"limit_req_dry_run"`
}

func (d *limitReqDirectives) inherit(p *limitReqDirectives) {
	merge(&d.LimitReq, p.LimitReq)
	merge(&d.LimitReqStatus, p.LimitReqStatus)
	merge(&d.LimitReqLogLevel, p.LimitReqLogLevel)
	merge(&d.LimitReqDryRun, p.LimitReqDryRun)
}

// resolve is the level's LimitReqConf; the zero value when it has no
// limit_req (the other three directives then do nothing).
func (d *limitReqDirectives) resolve() LimitReqConf {
	if len(d.LimitReq.or(nil)) == 0 {
		return LimitReqConf{}
	}
	return LimitReqConf{
		Limits:   d.LimitReq.or(nil),
		Status:   d.LimitReqStatus.or(503),
		LogLevel: d.LimitReqLogLevel.or(LevelError),
		DryRun:   d.LimitReqDryRun.or(false),
	}
}

// check checks the directives in effect at one level against the zones.
func (d *limitReqDirectives) check(zones map[string]*LimitReqZone, p *problems) {
	if s := d.LimitReqStatus.or(503); s < 400 || s > 599 {
		p.add(d.LimitReqStatus.at(), `value must be between 400 and 599`)
	}
	if lv := d.LimitReqLogLevel.or(LevelError); lv != LevelInfo && lv != LevelNotice && lv != LevelWarn && lv != LevelError {
		p.add(d.LimitReqLogLevel.at(), `invalid value %q: want info, notice, warn or error`, lv)
	}
	seen := map[string]bool{}
	for _, l := range d.LimitReq.or(nil) {
		if zones[l.Zone] == nil {
			p.add(d.LimitReq.at(), `zero size shared memory zone %q (no limit_req_zone of that name)`, l.Zone)
		}
		if seen[l.Zone] {
			p.add(d.LimitReq.at(), `%q zone is duplicate`, l.Zone)
		}
		seen[l.Zone] = true
	}
}

// limitReqFrom decodes limit_req: nginx's "zone=NAME [burst=N] [nodelay |
// delay=N]", or a list of them (several zones at one level).
func limitReqFrom(in any) ([]LimitReq, error) {
	list, err := stringList(in, "limit_req", `"zone=one burst=5 nodelay"`)
	if err != nil {
		return nil, err
	}
	var out []LimitReq
	for _, s := range list {
		l, err := ParseLimitReq(strings.Fields(s))
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// ParseLimitReq reads limit_req's arguments with nginx's errors.
func ParseLimitReq(args []string) (LimitReq, error) {
	l := LimitReq{Text: strings.Join(args, " ")}
	delaySet := false
	for _, a := range args {
		name, val, _ := strings.Cut(a, "=")
		switch {
		case name == "zone" && val != "":
			l.Zone = val
		case name == "burst":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n < 0 {
				return l, fmt.Errorf("invalid burst value %q", a)
			}
			l.Burst = n * 1000
		case name == "delay":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n < 0 {
				return l, fmt.Errorf("invalid delay value %q", a)
			}
			l.Delay, delaySet = n*1000, true
		case a == "nodelay":
			l.NoDelay = true
		default:
			return l, fmt.Errorf("invalid parameter %q", a)
		}
	}
	if l.Zone == "" {
		return l, fmt.Errorf(`"limit_req" must have "zone" parameter`)
	}
	if l.NoDelay && delaySet {
		return l, fmt.Errorf(`"nodelay" and "delay" cannot both be set`)
	}
	return l, nil
}

// limitReqZonesFrom decodes limit_req_zone: nginx's "KEY zone=NAME:SIZE
// rate=Nr/s|Nr/m", or a list of them.
func limitReqZonesFrom(in any) ([]LimitReqZone, error) {
	list, err := stringList(in, "limit_req_zone", `"$binary_remote_addr zone=one:10m rate=1r/s"`)
	if err != nil {
		return nil, err
	}
	var out []LimitReqZone
	for _, s := range list {
		z, err := ParseLimitReqZone(strings.Fields(s))
		if err != nil {
			return nil, err
		}
		out = append(out, z)
	}
	return out, nil
}

// ParseLimitReqZone reads limit_req_zone's arguments with nginx's errors.
func ParseLimitReqZone(args []string) (LimitReqZone, error) {
	z := LimitReqZone{Text: strings.Join(args, " ")}
	if len(args) < 3 {
		return z, fmt.Errorf(`invalid number of arguments in "limit_req_zone" directive`)
	}
	z.Key = args[0]
	for _, a := range args[1:] {
		name, val, _ := strings.Cut(a, "=")
		switch name {
		case "zone":
			n, size, ok := strings.Cut(val, ":")
			if !ok || n == "" {
				return z, fmt.Errorf("invalid zone size %q", a)
			}
			sz, err := ParseSize(size)
			if err != nil || sz <= 0 {
				return z, fmt.Errorf("invalid zone size %q", a)
			}
			if sz < 8*4096 {
				return z, fmt.Errorf("zone %q is too small", n)
			}
			z.Name, z.Size = n, sz
		case "rate":
			var per int64
			num := val
			switch {
			case strings.HasSuffix(val, "r/s"):
				num, per = strings.TrimSuffix(val, "r/s"), 1
			case strings.HasSuffix(val, "r/m"):
				num, per = strings.TrimSuffix(val, "r/m"), 60
			}
			n, err := strconv.ParseInt(num, 10, 64)
			if per == 0 || err != nil || n <= 0 {
				return z, fmt.Errorf("invalid rate %q", a)
			}
			z.Rate = n * 1000 / per
		default:
			return z, fmt.Errorf("invalid parameter %q", a)
		}
	}
	if z.Name == "" {
		return z, fmt.Errorf(`"limit_req_zone" must have "zone" parameter`)
	}
	if z.Rate == 0 {
		z.Rate = 1000 // nginx's default rate: 1r/s
	}
	return z, nil
}

// stringList is a list of nginx argument strings, or one string.
func stringList(in any, name, example string) ([]string, error) {
	switch x := in.(type) {
	case string:
		return []string{x}, nil
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("each %s entry is a string like %s, got %s", name, example, kindOf(e))
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("expected a string like %s or a list of them, got %s", example, kindOf(in))
}

// resolveLimitReqZones collects the zones and checks every level's
// limit_req against them.
func resolveLimitReqZones(h *rawHTTP, p *problems) map[string]*LimitReqZone {
	zones := map[string]*LimitReqZone{}
	for _, z := range h.LimitReqZone.or(nil) {
		if zones[z.Name] != nil {
			p.add(h.LimitReqZone.at(), "duplicate zone %q", z.Name)
			continue
		}
		z := z
		zones[z.Name] = &z
	}
	h.limitReqDirectives.check(zones, p)
	for i := range h.Servers {
		s := &h.Servers[i]
		if s.LimitReq != h.LimitReq || s.LimitReqStatus != h.LimitReqStatus || s.LimitReqLogLevel != h.LimitReqLogLevel {
			s.limitReqDirectives.check(zones, p)
		}
		walkLocations(s.Locations, &s.locationDirectives, func(l *rawLocation, up *locationDirectives) {
			if l.LimitReq != up.LimitReq || l.LimitReqStatus != up.LimitReqStatus || l.LimitReqLogLevel != up.LimitReqLogLevel {
				l.limitReqDirectives.check(zones, p)
			}
		})
	}
	return zones
}
