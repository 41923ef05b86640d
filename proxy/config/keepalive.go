package config

import (
	"fmt"
	"strings"
	"time"
)

// Keepalive is the client keep-alive of a location (or of a server, for
// the requests no location takes): nginx's keepalive_timeout,
// keepalive_requests, keepalive_time and keepalive_disable, all of them
// location directives in nginx (ngx_http_update_location_config decides
// with the request's last location whether its connection is kept).
type Keepalive struct {
	// Timeout is how long a kept connection waits for the next request,
	// default 75s; 0 closes the connection after each response.
	Timeout time.Duration
	// HeaderTimeout is keepalive_timeout's second argument: the
	// "Keep-Alive: timeout=N" header each kept response carries (whole
	// seconds); 0 sends none (the default).
	HeaderTimeout time.Duration
	// Requests is keepalive_requests: the connection closes after the
	// response to its Requests-th request. Default 1000.
	Requests int
	// Time is keepalive_time: no request is kept alive once the
	// connection is older than Time when its location is chosen. Default 1h.
	Time time.Duration
	// DisableMSIE6 and DisableSafari are keepalive_disable's browsers
	// (default msie6: a POST from MSIE 4 to 6 closes the connection;
	// safari: every request from Safari on Mac OS X does).
	DisableMSIE6, DisableSafari bool
}

const (
	defaultKeepaliveTime = time.Hour
)

// keepaliveTimeout is keepalive_timeout's "timeout [header_timeout]".
type keepaliveTimeout struct {
	timeout, header time.Duration
}

// keepaliveTimeoutFrom decodes "75s", "75s 60s", a bare number of seconds,
// or a list of one or two times.
func keepaliveTimeoutFrom(in any) (keepaliveTimeout, error) {
	var parts []any
	switch x := in.(type) {
	case string:
		for _, f := range strings.Fields(x) {
			parts = append(parts, f)
		}
	case []any:
		parts = x
	default:
		parts = []any{in}
	}
	if len(parts) < 1 || len(parts) > 2 {
		return keepaliveTimeout{}, fmt.Errorf(`invalid value %s: want "timeout [header_timeout]", like "75s" or "75s 60s"`, show(in))
	}
	var k keepaliveTimeout
	var err error
	if k.timeout, err = durationFrom(parts[0]); err != nil {
		return k, err
	}
	if len(parts) == 2 {
		if k.header, err = durationFrom(parts[1]); err != nil {
			return k, err
		}
	}
	return k, nil
}

// keepaliveDirectives may be written in http, a server and a location.
type keepaliveDirectives struct {
	KeepaliveTimeout  *opt[keepaliveTimeout] `mapstructure:"keepalive_timeout"`
	KeepaliveRequests *opt[int]              `mapstructure:"keepalive_requests"`
	KeepaliveTime     *opt[time.Duration]    `mapstructure:"keepalive_time"`
	KeepaliveDisable  *opt[words]            `mapstructure:"keepalive_disable"`
}

func (d *keepaliveDirectives) inherit(p *keepaliveDirectives) {
	merge(&d.KeepaliveTimeout, p.KeepaliveTimeout)
	merge(&d.KeepaliveRequests, p.KeepaliveRequests)
	merge(&d.KeepaliveTime, p.KeepaliveTime)
	merge(&d.KeepaliveDisable, p.KeepaliveDisable)
}

// check is nginx -t's check of keepalive_disable's words.
func (d *keepaliveDirectives) check(p *problems) {
	for _, w := range d.KeepaliveDisable.or(nil) {
		if w != "none" && w != "msie6" && w != "safari" {
			p.add(d.KeepaliveDisable.at(), `invalid value "%s" in "keepalive_disable" directive: want none, msie6 or safari`, w)
		}
	}
}

func (d *keepaliveDirectives) resolve() Keepalive {
	kt := d.KeepaliveTimeout.or(keepaliveTimeout{timeout: defaultKeepaliveTimeout})
	k := Keepalive{
		Timeout:       kt.timeout,
		HeaderTimeout: kt.header,
		Requests:      d.KeepaliveRequests.or(defaultKeepaliveRequests),
		Time:          d.KeepaliveTime.or(defaultKeepaliveTime),
	}
	for _, w := range d.KeepaliveDisable.or(words{"msie6"}) {
		switch w {
		case "msie6":
			k.DisableMSIE6 = true
		case "safari":
			k.DisableSafari = true
		}
	}
	return k
}
