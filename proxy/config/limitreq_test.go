package config

import (
	"strings"
	"testing"
)

// limit_req_zone and limit_req read nginx's arguments, in nginx's units
// (thousandths), with nginx's errors; limit_req is inherited as one list.
func TestLimitReqDecode(t *testing.T) {
	text := strings.Replace(base, "http:\n", `http:
  limit_req_zone: ["$binary_remote_addr zone=one:10m rate=30r/m", "$server_name zone=two:32k rate=5r/s"]
  limit_req: zone=one burst=5 nodelay
  limit_req_status: 429
`, 1)
	text = strings.Replace(text, "          proxy_pass: http://app\n", "          proxy_pass: http://app\n"+
		"        - {path: /b, proxy_pass: http://app, limit_req: [zone=two delay=3 burst=10, zone=one], limit_req_log_level: warn, limit_req_dry_run: on}\n", 1)
	c := mustLoad(t, text)
	if z := c.LimitReqZones["one"]; z == nil || z.Rate != 500 || z.Size != 10<<20 || z.Key != "$binary_remote_addr" {
		t.Errorf("zone one: %+v", z)
	}
	if z := c.LimitReqZones["two"]; z == nil || z.Rate != 5000 || z.Size != 32<<10 {
		t.Errorf("zone two: %+v", z)
	}
	l := c.Servers[0].Locations
	if got := l[0].LimitReq; len(got.Limits) != 1 || got.Limits[0] != (LimitReq{Zone: "one", Burst: 5000, NoDelay: true, Text: "zone=one burst=5 nodelay"}) ||
		got.Status != 429 || got.LogLevel != LevelError || got.DryRun {
		t.Errorf("inherited: %+v", got)
	}
	if got := l[1].LimitReq; len(got.Limits) != 2 || got.Limits[0].Delay != 3000 || got.Limits[0].Burst != 10000 || got.Limits[1].Zone != "one" ||
		got.LogLevel != LevelWarn || got.DelayLogLevel() != LevelNotice || !got.DryRun || got.Status != 429 {
		t.Errorf("location: %+v", got)
	}
	for _, c := range []struct{ key, value, msg string }{
		{"limit_req", "zone=nosuch", `zero size shared memory zone "nosuch"`},
		{"limit_req", "burst=5", `"limit_req" must have "zone" parameter`},
		{"limit_req", "zone=one burst=x", `invalid burst value "burst=x"`},
		{"limit_req", "zone=one nodelay delay=2", `"nodelay" and "delay" cannot both be set`},
		{"limit_req", "zone=one fast", `invalid parameter "fast"`},
		{"limit_req_status", "302", "value must be between 400 and 599"},
		{"limit_req_log_level", "crit", `want info, notice, warn or error`},
	} {
		text := strings.Replace(base, "http:\n", "http:\n  limit_req_zone: $binary_remote_addr zone=one:1m rate=1r/s\n", 1)
		text = strings.Replace(text, "          proxy_pass: http://app\n", "          proxy_pass: http://app\n          "+c.key+": "+c.value+"\n", 1)
		_, err := load(t, text)
		wantError(t, err, loc0+"."+c.key, 11, c.msg)
	}
	for _, c := range []struct{ value, msg string }{
		{"$binary_remote_addr zone=one:1k rate=1r/s", `zone "one" is too small`},
		{"$binary_remote_addr zone=one rate=1r/s", `invalid zone size "zone=one"`},
		{"$binary_remote_addr zone=one:1m rate=1r/h", `invalid rate "rate=1r/h"`},
		{"$binary_remote_addr rate=1r/s x=1", `invalid parameter "x=1"`},
		{"$binary_remote_addr zone=one:1m", `invalid number of arguments`},
	} {
		_, err := load(t, strings.Replace(base, "http:\n", "http:\n  limit_req_zone: "+c.value+"\n", 1))
		wantError(t, err, "http.limit_req_zone", 2, c.msg)
	}
}

// limit_conn_zone and limit_conn read nginx's arguments with its errors.
func TestLimitConnDecode(t *testing.T) {
	text := strings.Replace(base, "http:\n", "http:\n  limit_conn_zone: $binary_remote_addr zone=addr:10m\n  limit_conn: [addr 10]\n  limit_conn_status: 429\n", 1)
	c := mustLoad(t, text)
	if z := c.LimitConnZones["addr"]; z == nil || z.Size != 10<<20 || z.Key != "$binary_remote_addr" {
		t.Errorf("zone: %+v", z)
	}
	if got := c.Servers[0].Locations[0].LimitConn; len(got.Limits) != 1 || got.Limits[0].Conn != 10 || got.Status != 429 || got.LogLevel != LevelError {
		t.Errorf("limit_conn: %+v", got)
	}
	for _, c := range []struct{ value, msg string }{
		{"nosuch 1", `zero size shared memory zone "nosuch"`},
		{"addr 0", `invalid number of connections "0"`},
		{"addr", `invalid number of arguments in "limit_conn" directive`},
		{"[addr 1, addr 2]", `"limit_conn addr" directive is duplicate`},
	} {
		text := strings.Replace(base, "http:\n", "http:\n  limit_conn_zone: $binary_remote_addr zone=addr:1m\n", 1)
		text = strings.Replace(text, "          proxy_pass: http://app\n", "          proxy_pass: http://app\n          limit_conn: "+c.value+"\n", 1)
		_, err := load(t, text)
		wantError(t, err, loc0+".limit_conn", 11, c.msg)
	}
	_, err := load(t, strings.Replace(base, "http:\n", "http:\n  limit_conn_zone: $binary_remote_addr zone=addr:1k\n", 1))
	wantError(t, err, "http.limit_conn_zone", 2, `zone "addr" is too small`)
}
