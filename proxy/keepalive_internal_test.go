package proxy

import (
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"spillway/proxy/config"
)

// browser reads User-Agent as nginx's ngx_http_process_user_agent.
func TestBrowserForKeepaliveDisable(t *testing.T) {
	for _, c := range []struct {
		ua            string
		msie6, safari bool
	}{
		{"Mozilla/4.0 (compatible; MSIE 4.01; Windows 98)", true, false},
		{"Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)", true, false},
		{"Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)", false, false}, // XP SP2's MSIE 6
		{"Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.0)", false, false},
		{"MSIE 5.0", true, false},
		{"MSIE 5.", false, false}, // nginx wants 2 bytes past "MSIE x."
		{"Opera/9.80 (MSIE 6.0)", false, false},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15", false, true},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36", false, false},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:120.0) Gecko/20100101 Firefox/120.0", false, false},
		{"Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Safari/537.36", false, false}, // no Mac OS X
		{"", false, false},
	} {
		msie6, safari := browser([]byte(c.ua))
		if msie6 != c.msie6 || safari != c.safari {
			t.Errorf("%q: msie6 %v safari %v, want %v %v", c.ua, msie6, safari, c.msie6, c.safari)
		}
	}
}

// keepaliveAllowed's limits, as ngx_http_update_location_config's.
func TestKeepaliveAllowed(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ka := config.Keepalive{Timeout: 75 * time.Second, Requests: 3, Time: time.Minute, DisableMSIE6: true}
	var get, post fasthttp.RequestHeader
	get.SetMethod("GET")
	get.Set("User-Agent", "MSIE 5.0")
	post.SetMethod("POST")
	post.Set("User-Agent", "MSIE 5.0")
	var safariGet fasthttp.RequestHeader
	safariGet.SetMethod("GET")
	safariGet.Set("User-Agent", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15")
	safari := ka
	safari.DisableSafari = true
	zero := ka
	zero.Timeout = 0
	none := ka
	none.DisableMSIE6 = false
	for _, c := range []struct {
		name string
		ka   config.Keepalive
		h    *fasthttp.RequestHeader
		n    int
		age  time.Duration
		want bool
	}{
		{"kept", ka, &get, 1, 0, true},
		{"below keepalive_requests", ka, &get, 2, 0, true},
		{"keepalive_requests reached", ka, &get, 3, 0, false},
		{"keepalive_time reached", ka, &get, 1, time.Minute, true}, // nginx: older than, not as old as
		{"past keepalive_time", ka, &get, 1, time.Minute + time.Millisecond, false},
		{"keepalive_timeout 0", zero, &get, 1, 0, false},
		{"MSIE 5 POST", ka, &post, 1, 0, false},
		{"MSIE 5 POST, keepalive_disable none", none, &post, 1, 0, true},
		{"MSIE 5 GET, keepalive_disable msie6 safari", safari, &get, 1, 0, true},
		{"MSIE 5 POST, keepalive_disable msie6 safari", safari, &post, 1, 0, false},
		{"Safari GET, keepalive_disable msie6", ka, &safariGet, 1, 0, true},
		{"Safari GET, keepalive_disable msie6 safari", safari, &safariGet, 1, 0, false},
	} {
		if got := keepaliveAllowed(&c.ka, c.h, c.n, start, start.Add(c.age)); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
