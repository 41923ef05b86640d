package difftest

import (
	b "spillway/bench/upstreamsim"
)

// Access logs per location: access_log off, a location's own log with
// if=, and a try_files whose internal redirect ends in a location with
// access_log off (nginx logs with the location that finally handled the
// request). The access aspect compares the lines of the one log file.
func logScenarios() []Scenario {
	locs := []Location{
		{Path: "/off/", Directives: dirs("access_log", "off", "proxy_pass", "http://app")},
		{Path: "/cond/", Directives: dirs("access_log", "{DIR}/access.log difftest if=$arg_log", "proxy_pass", "http://app")},
		{Path: "/tf/", Directives: dirs("root", "{DIR}/www", "try_files", "$uri /off/fallback")},
	}
	return []Scenario{{
		Area: "logs", Name: "access-log-per-location", Servers: []Server{srv(b.OK())}, Locations: locs,
		Requests: []Request{get("/off/a"), get("/cond/a?log=1"), get("/cond/b?log=0"), get("/cond/c"),
			get("/tf/x"), get("/x")},
	}}
}

func init() { Scenarios = append(Scenarios, logScenarios()...) }
