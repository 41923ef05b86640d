package difftest

import (
	"strings"
	"time"

	b "spillway/bench/upstreamsim"
)

// $bytes_sent and $body_bytes_sent (Scenario.Sizes): each access line's
// figures against the head and body bytes its client received, nginx
// against spillway. The line is written once the answer went to the socket
// (or failed): a proxied answer, a HEAD, a 304, a chunked one (its framing
// counts as body), a return 301 and its page, a static file (sendfile),
// nginx's 404 page, the 502 page of an upstream that refuses, and a client
// that resets after the first half of a body (logged with what it got).
func sentScenarios() []Scenario {
	files := map[string]string{"www/s/f.txt": "a static file\n", "www/s/big.bin": strings.Repeat("0123456789abcdef", 1<<12)}
	locs := []Location{
		staticLoc("/s/", "root", "{DIR}/www"),
		staticLoc("/r", "return", "301 /s/f.txt"),
	}
	sc := func(name string, s Server, rs ...Request) Scenario {
		return Scenario{Area: "logs", Name: name, Servers: []Server{s}, Sizes: true, Requests: rs}
	}
	halves := b.Behavior{Kind: b.KindSlowBody, D: 300 * time.Millisecond, Chunks: 2, Size: 8000}
	pages := sc("sent-static-return-pages", srv(b.OK()), get("/s/f.txt"), get("/s/big.bin"), head("/s/f.txt"),
		get("/r"), get("/s/nope"), get("/p/a"), head("/p/b"))
	pages.Locations, pages.Files = locs, files
	// Unbuffered, so that each side relays the first half as it comes
	// (nginx's buffered pipe keeps a partial buffer until the upstream
	// is done): the client has it all when it resets.
	resets := sc("sent-client-resets-midway", srv(halves), Request{Method: "GET", Path: "/p/half", ResetAfter: 4000})
	resets.Directives = dirs("proxy_buffering", "off")
	resets.Diff = &Difference{Aspects: []Aspect{AspectLog}, Bug: true,
		Reason: "nginx notices the client's RST at once (epoll) and logs it while reading upstream; spillway notices it at its next write to the client, \"client prematurely closed connection ... while sending to client\". Both log the bytes the client had"}
	return []Scenario{
		pages,
		sc("sent-not-modified", srv(b.Status(304)), get("/p/304")),
		sc("sent-chunked", srv(b.Behavior{Kind: b.KindBareLF, Chunks: 3}), get("/p/chunked")),
		sc("sent-bad-gateway-page", srv(b.Refuse()), get("/p/502")),
		resets,
	}
}

func init() { Scenarios = append(Scenarios, sentScenarios()...) }
