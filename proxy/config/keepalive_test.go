package config

import (
	"testing"
	"time"
)

// keepalive_timeout takes nginx's "timeout [header_timeout]" (also a bare
// number of seconds, or a list); keepalive_disable nginx's words.
func TestKeepaliveDirectives(t *testing.T) {
	for _, c := range []struct {
		directives []string
		want       Keepalive
	}{
		{nil, Keepalive{Timeout: 75 * time.Second, Requests: 1000, Time: time.Hour, DisableMSIE6: true}},
		{[]string{"keepalive_timeout: 5s 9s"}, Keepalive{Timeout: 5 * time.Second, HeaderTimeout: 9 * time.Second, Requests: 1000, Time: time.Hour, DisableMSIE6: true}},
		{[]string{"keepalive_timeout: [30, 20s]", "keepalive_requests: 4"}, Keepalive{Timeout: 30 * time.Second, HeaderTimeout: 20 * time.Second, Requests: 4, Time: time.Hour, DisableMSIE6: true}},
		{[]string{"keepalive_timeout: 0", "keepalive_time: 1s"}, Keepalive{Requests: 1000, Time: time.Second, DisableMSIE6: true}},
		{[]string{"keepalive_disable: safari msie6"}, Keepalive{Timeout: 75 * time.Second, Requests: 1000, Time: time.Hour, DisableMSIE6: true, DisableSafari: true}},
		{[]string{"keepalive_disable: none"}, Keepalive{Timeout: 75 * time.Second, Requests: 1000, Time: time.Hour}},
	} {
		c2 := mustLoad(t, withLocation(c.directives...))
		if got := c2.Servers[0].Locations[0].Keepalive; got != c.want {
			t.Errorf("%q: %+v, want %+v", c.directives, got, c.want)
		}
	}
	_, err := load(t, withLocation("keepalive_timeout: 5s 9s 10s"))
	wantError(t, err, loc0+".keepalive_timeout", 10, `want "timeout [header_timeout]"`)
	_, err = load(t, withLocation("keepalive_disable: opera"))
	wantError(t, err, loc0+".keepalive_disable", 10, `invalid value "opera" in "keepalive_disable"`)
}
