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

// Error logs per level: http's error_log (at info) takes the lines of
// "location /" and of a request line refused before any server is
// chosen; a location's own log at info takes its lines, and those of a
// try_files that ends there; a location whose log is at crit writes its
// [error] lines nowhere. Each file is compared (ErrorLogs); the main
// error.log keeps only the process's lines.
func errorLogScenarios() []Scenario {
	locs := []Location{
		{Path: "/loud/", Directives: dirs("error_log", "{DIR}/loud.log info", "proxy_pass", "http://app")},
		{Path: "/quiet/", Directives: dirs("error_log", "{DIR}/quiet.log crit", "proxy_pass", "http://app")},
		{Path: "/tf/", Directives: dirs("root", "{DIR}/www", "try_files", "$uri /loud/fallback")},
	}
	return []Scenario{{
		Area: "logs", Name: "error-log-per-location", Servers: []Server{srv(b.Refuse())}, Locations: locs,
		Directives: dirs("error_log", "{DIR}/http.log info"),
		ErrorLogs:  []string{"http.log", "loud.log", "quiet.log"},
		Requests: []Request{get("/x"), get("/loud/a"), get("/quiet/a"), get("/tf/a"),
			{Raw: "GET /%00 HTTP/1.1\r\nHost: localhost\r\n\r\n"}},
	}}
}

func init() { Scenarios = append(Scenarios, errorLogScenarios()...) }
