package difftest

import b "spillway/bench/upstreamsim"

// proxy_pass with variables (an upstream block by name, an address, the
// URI part as evaluated, a value that is no URL, no resolver), the
// resolver directive in front of the scenario's DNS server, and
// set_real_ip_from with a host name.
func init() {
	Scenarios = append(Scenarios,
		Scenario{Area: "variables", Name: "proxy_pass-variables-upstream", Servers: []Server{srv(b.OK())},
			Locations: []Location{{Path: "/v/", Directives: dirs("proxy_pass", "http://$arg_up")}},
			Requests:  reqs(get("/v/a?up=app"), get("/v/b?up=APP"), get("/v/c?up=nosuch.test"), get("/v/d?up=127.0.0.1:0"))},
		Scenario{Area: "variables", Name: "proxy_pass-variables-uri", Servers: []Server{srv(b.OK())},
			ProxyPassURI: "/", // every target the upstream receives is compared
			Locations: []Location{
				{Path: "/u/", Directives: dirs("proxy_pass", "http://app/fixed$uri")},
				{Path: "/q/", Directives: dirs("proxy_pass", "http://app/only?a=$arg_a")},
				{Path: "~ ^/re/(.*)$", Directives: dirs("proxy_pass", "http://app/c/$1")},
				{Path: "/s/", Directives: dirs("proxy_pass", "$arg_s://app")},
			},
			Requests: reqs(get("/u/a%41b?k=v"), get("/q/z?a=1&b=2"), get("/re/x/y?z=1"), get("/s/?s=http"), get("/s/?s=ftp"))},
		Scenario{Area: "variables", Name: "resolver", Servers: []Server{srv(b.OK())},
			DNS:        map[string][]string{"app.test.": {"{HOST0}"}},
			Directives: dirs("resolver", "{DNS} ipv6=off", "resolver_timeout", "5s"),
			Locations:  []Location{{Path: "/r/", Directives: dirs("proxy_pass", "http://$arg_h:{PORT0}")}},
			Requests:   reqs(get("/r/a?h=app.test"), get("/r/b?h=APP.test"), get("/r/c?h=gone.test"), get("/r/d?h=fail.test"))},
		Scenario{Area: "realip", Name: "realip-from-host-name", Servers: []Server{srv(b.OK())},
			Directives:   dirs("set_real_ip_from", "localhost", "real_ip_header", "X-Forwarded-For"),
			AccessFormat: `$status "$request" $remote_addr $realip_remote_addr`,
			Requests:     reqs(Request{Method: "GET", Path: "/x", Header: []string{"X-Forwarded-For: 198.51.100.7"}})},
	)
}
