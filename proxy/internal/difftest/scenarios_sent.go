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
	// The upstream's pause is 1s (and proxy_read_timeout longer), so that
	// the client's RST comes within it on a loaded machine too.
	halves := b.Behavior{Kind: b.KindSlowBody, D: time.Second, Chunks: 2, Size: 8000}
	pages := sc("sent-static-return-pages", srv(b.OK()), get("/s/f.txt"), get("/s/big.bin"), head("/s/f.txt"),
		get("/r"), get("/s/nope"), get("/p/a"), head("/p/b"))
	pages.Locations, pages.Files = locs, files
	// Unbuffered, so that each side relays the first half as it comes
	// (nginx's buffered pipe keeps a partial buffer until the upstream
	// is done): the client has it all when it resets.
	resets := sc("sent-client-resets-midway", srv(halves), Request{Method: "GET", Path: "/p/half", ResetAfter: 4000})
	resets.Directives = dirs("proxy_buffering", "off", "proxy_read_timeout", "5s")
	// The same client with the upstream connection kept alive, and with
	// proxy_buffering on (nginx's default): nginx watches the client while
	// the body is relayed in both modes. Buffered: the client resets while
	// both wait for the upstream's second half, once it has the whole
	// first half (before, nginx may still be writing it, and its write
	// fails first: measured). The halves are 32659 bytes, so that nginx's
	// pipe passes on the whole first half: the upstream's head takes 109
	// bytes of the proxy_buffer_size buffer, the half fills it and 7
	// proxy_buffers exactly (nginx keeps a partial buffer until it fills
	// or the upstream is done). Spooled: a client that reads nothing
	// (SlowRead) until the body is in the temp file, then resets after
	// 4000 bytes while it is being written. Ignoring:
	// proxy_ignore_client_abort on (unbuffered, as the first): both go on
	// reading the upstream, and the next write to the client fails with
	// nginx's "writev() failed (104: ...) while reading upstream". The last
	// request of each shows whether the upstream connection went back to
	// the cache (CompareConns).
	slowHalves := halves.At("/size/")
	slowHalves.Size = 0 // as /size/N says
	slowDirs := join(keepaliveDirs, dirs("proxy_read_timeout", "5s"))
	buffered := sc("sent-client-resets-midway-buffered", srv(slowHalves, b.OK()),
		Request{Method: "GET", Path: "/size/65318", ResetAfter: 32659}, get("/after"))
	buffered.Keepalive, buffered.Directives, buffered.CompareConns = 4, slowDirs, true
	spooled := sc("sent-client-resets-spooled", srv(b.OK()),
		Request{Method: "GET", Path: "/size/4m", SlowRead: true, ResetAfter: 4000}, get("/after"))
	spooled.Keepalive, spooled.CompareConns = 4, true
	spooled.Directives = join(keepaliveDirs, dirs("proxy_buffers", "4 4k"))
	spooled.Racy = []Aspect{AspectLog, AspectConns, AspectAccess}
	spooled.RacyReason = "whether the proxy has read the whole 4 MiB when the RST comes: nginx 1.22 has logged both \"client prematurely closed connection (104: Connection reset by peer) while sending to client\" " +
		"(its read was over: the upstream connection went back to the cache) and the epoll_wait() line \"while reading upstream\" (the connection closed) in runs of this scenario; spillway " +
		"likewise. $bytes_sent is what the socket took before the RST: spillway's has been 4096 or 6144 bytes more than nginx's (a write the client's last window update let through)"
	ignoring := sc("sent-client-resets-midway-ignore-abort", srv(slowHalves, b.OK()),
		Request{Method: "GET", Path: "/size/8000", ResetAfter: 4000}, get("/after"))
	ignoring.Keepalive, ignoring.CompareConns = 4, true
	ignoring.Directives = join(slowDirs, dirs("proxy_buffering", "off", "proxy_ignore_client_abort", "on"))
	unbufKeep := sc("sent-client-resets-midway-unbuffered-keepalive", srv(slowHalves, b.OK()),
		Request{Method: "GET", Path: "/size/8000", ResetAfter: 4000}, get("/after"))
	unbufKeep.Keepalive, unbufKeep.CompareConns = 4, true
	unbufKeep.Directives = join(slowDirs, dirs("proxy_buffering", "off"))
	// A body over proxy_buffers (8 4k) that the upstream sends with its
	// head: spillway reads it whole and writes it with the head from the
	// client's connection (spool.go's spoolWhole); twice on one client
	// connection, then one more request: the figures of each, and the
	// upstream connection kept for the next.
	whole := sc("sent-64k-whole-keepalive", srv(b.OK()), get("/size/65536"), get("/size/90000"), get("/after"))
	whole.Keepalive, whole.CompareConns, whole.Directives = 4, true, keepaliveDirs
	return []Scenario{
		pages, whole,
		sc("sent-not-modified", srv(b.Status(304)), get("/p/304")),
		sc("sent-chunked", srv(b.Behavior{Kind: b.KindBareLF, Chunks: 3}), get("/p/chunked")),
		sc("sent-bad-gateway-page", srv(b.Refuse()), get("/p/502")),
		resets, unbufKeep, buffered, spooled, ignoring,
	}
}

func init() { Scenarios = append(Scenarios, sentScenarios()...) }
