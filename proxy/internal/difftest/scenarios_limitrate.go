package difftest

import b "spillway/bench/upstreamsim"

// limit_rate's variable: $limit_rate in a header is 0 until the answer's
// rate is taken (the header filter runs before the write filter), unless
// set $limit_rate wrote it; a set value that is not a size is nginx's
// [error] line and changes nothing; limit_rate with variables. The rates
// are high enough that the answers finish at once (the timing itself is
// proxy/limitrate_test.go's).
func init() {
	Scenarios = append(Scenarios, Scenario{Area: "variables", Name: "limit_rate", Servers: []Server{srv(b.OK())},
		Locations: []Location{
			{"/h", dirs("limit_rate", "1m", "add_header", "X-LR $limit_rate", "proxy_pass", "http://app")},
			{"/s", dirs("set", "$limit_rate 100k", "add_header", "X-LR $limit_rate", "proxy_pass", "http://app")},
			{"/bad", dirs("set", "$limit_rate abc", "add_header", "X-LR $limit_rate", "proxy_pass", "http://app")},
			{"/v", dirs("limit_rate", "$arg_l", "limit_rate_after", "1k", "add_header", "X-LR $limit_rate", "proxy_pass", "http://app")},
		},
		Requests: reqs(get("/h"), get("/s"), get("/bad"), get("/v?l=2m"), get("/v?l=x")),
		Headers:  []string{"X-LR"}})
}
