package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Concurrent request limits (nginx's ngx_http_limit_conn_module): zones in
// http (limit_conn_zone), limits per level (limit_conn), nginx's names.

// LimitConnZone is one limit_conn_zone: requests in flight are counted per
// key.
type LimitConnZone struct {
	Name string
	Key  string // an nginx value: "$binary_remote_addr", "$server_name", ...
	Size int64
	Text string
}

// LimitConn is one limit_conn: at most Conn requests in flight per key of
// Zone.
type LimitConn struct {
	Zone string
	Conn int
	Text string
}

// LimitConnConf is what limit_conn does at one level.
type LimitConnConf struct {
	Limits   []LimitConn // in file order; empty: no limit
	Status   int         // limit_conn_status, default 503
	LogLevel Level       // limit_conn_log_level, default error
	DryRun   bool        // limit_conn_dry_run
}

// limitConnDirectives are limit_conn's location directives (http, server,
// location); a level with any limit_conn replaces the inherited list.
type limitConnDirectives struct {
	LimitConn         *opt[[]LimitConn] `mapstructure:"limit_conn"`
	LimitConnStatus   *opt[int]         `mapstructure:"limit_conn_status"`
	LimitConnLogLevel *opt[Level]       `mapstructure:"limit_conn_log_level"`
	LimitConnDryRun   *opt[bool]        `mapstructure:"limit_conn_dry_run"`
}

func (d *limitConnDirectives) inherit(p *limitConnDirectives) {
	merge(&d.LimitConn, p.LimitConn)
	merge(&d.LimitConnStatus, p.LimitConnStatus)
	merge(&d.LimitConnLogLevel, p.LimitConnLogLevel)
	merge(&d.LimitConnDryRun, p.LimitConnDryRun)
}

// resolve is the level's LimitConnConf; the zero value without limit_conn.
func (d *limitConnDirectives) resolve() LimitConnConf {
	if len(d.LimitConn.or(nil)) == 0 {
		return LimitConnConf{}
	}
	return LimitConnConf{
		Limits:   d.LimitConn.or(nil),
		Status:   d.LimitConnStatus.or(503),
		LogLevel: d.LimitConnLogLevel.or(LevelError),
		DryRun:   d.LimitConnDryRun.or(false),
	}
}

func (d *limitConnDirectives) check(zones map[string]*LimitConnZone, p *problems) {
	if s := d.LimitConnStatus.or(503); s < 400 || s > 599 {
		p.add(d.LimitConnStatus.at(), `value must be between 400 and 599`)
	}
	if lv := d.LimitConnLogLevel.or(LevelError); lv != LevelInfo && lv != LevelNotice && lv != LevelWarn && lv != LevelError {
		p.add(d.LimitConnLogLevel.at(), `invalid value %q: want info, notice, warn or error`, lv)
	}
	seen := map[string]bool{}
	for _, l := range d.LimitConn.or(nil) {
		if zones[l.Zone] == nil {
			p.add(d.LimitConn.at(), `zero size shared memory zone %q (no limit_conn_zone of that name)`, l.Zone)
		}
		if seen[l.Zone] {
			p.add(d.LimitConn.at(), `%q directive is duplicate`, "limit_conn "+l.Zone)
		}
		seen[l.Zone] = true
	}
}

// limitConnFrom decodes limit_conn: nginx's "ZONE NUMBER", or a list.
func limitConnFrom(in any) ([]LimitConn, error) {
	list, err := stringList(in, "limit_conn", `"addr 10"`)
	if err != nil {
		return nil, err
	}
	var out []LimitConn
	for _, s := range list {
		l, err := ParseLimitConn(strings.Fields(s))
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// ParseLimitConn reads limit_conn's arguments with nginx's errors.
func ParseLimitConn(args []string) (LimitConn, error) {
	l := LimitConn{Text: strings.Join(args, " ")}
	if len(args) != 2 {
		return l, fmt.Errorf(`invalid number of arguments in "limit_conn" directive`)
	}
	n, err := strconv.Atoi(args[1])
	if err != nil || n <= 0 {
		return l, fmt.Errorf("invalid number of connections %q", args[1])
	}
	if n > 65535 {
		return l, fmt.Errorf("connection limit must be less 65536")
	}
	l.Zone, l.Conn = args[0], n
	return l, nil
}

// limitConnZonesFrom decodes limit_conn_zone: nginx's "KEY
// zone=NAME:SIZE", or a list.
func limitConnZonesFrom(in any) ([]LimitConnZone, error) {
	list, err := stringList(in, "limit_conn_zone", `"$binary_remote_addr zone=addr:10m"`)
	if err != nil {
		return nil, err
	}
	var out []LimitConnZone
	for _, s := range list {
		z, err := ParseLimitConnZone(strings.Fields(s))
		if err != nil {
			return nil, err
		}
		out = append(out, z)
	}
	return out, nil
}

// ParseLimitConnZone reads limit_conn_zone's arguments with nginx's errors.
func ParseLimitConnZone(args []string) (LimitConnZone, error) {
	z := LimitConnZone{Text: strings.Join(args, " ")}
	if len(args) != 2 {
		return z, fmt.Errorf(`invalid number of arguments in "limit_conn_zone" directive`)
	}
	z.Key = args[0]
	val, ok := strings.CutPrefix(args[1], "zone=")
	if !ok {
		return z, fmt.Errorf("invalid parameter %q", args[1])
	}
	n, size, ok := strings.Cut(val, ":")
	sz, err := ParseSize(size)
	if !ok || n == "" || err != nil || sz <= 0 {
		return z, fmt.Errorf("invalid zone size %q", args[1])
	}
	if sz < 8*4096 {
		return z, fmt.Errorf("zone %q is too small", n)
	}
	z.Name, z.Size = n, sz
	return z, nil
}

// resolveLimitConnZones collects the zones and checks every level's
// limit_conn against them.
func resolveLimitConnZones(h *rawHTTP, p *problems) map[string]*LimitConnZone {
	zones := map[string]*LimitConnZone{}
	for _, z := range h.LimitConnZone.or(nil) {
		if zones[z.Name] != nil {
			p.add(h.LimitConnZone.at(), "duplicate zone %q", z.Name)
			continue
		}
		z := z
		zones[z.Name] = &z
	}
	h.limitConnDirectives.check(zones, p)
	for i := range h.Servers {
		s := &h.Servers[i]
		if s.LimitConn != h.LimitConn || s.LimitConnStatus != h.LimitConnStatus || s.LimitConnLogLevel != h.LimitConnLogLevel {
			s.limitConnDirectives.check(zones, p)
		}
		walkLocations(s.Locations, &s.locationDirectives, func(l *rawLocation, up *locationDirectives) {
			if l.LimitConn != up.LimitConn || l.LimitConnStatus != up.LimitConnStatus || l.LimitConnLogLevel != up.LimitConnLogLevel {
				l.limitConnDirectives.check(zones, p)
			}
		})
	}
	return zones
}
