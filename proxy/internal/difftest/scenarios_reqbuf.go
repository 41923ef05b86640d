package difftest

import b "spillway/bench/upstreamsim"

// proxy_request_buffering off with a chunked body: nginx streams it, sent
// chunked, with proxy_http_version 1.1 (and so cannot resend it), and buffers
// it whole for HTTP/1.0, which needs its length (and so resends it).
// A return discards the body, reading what came of it first: broken
// chunked framing there is 400 (proxy/body.go discardReady).
func init() {
	off := func(version string) []Directive {
		return dirs("proxy_request_buffering", "off", "proxy_http_version", version,
			"proxy_next_upstream", "error timeout non_idempotent")
	}
	chunked := func(n int) Request { return Request{Method: "POST", Path: "/echo", Body: n, Chunked: true} }
	Scenarios = append(Scenarios,
		Scenario{Area: "client_body", Name: "request_buffering-off-chunked-http11-64k", Servers: []Server{srv(b.OK())},
			Directives: off("1.1"), Requests: reqs(chunked(65536))},
		Scenario{Area: "client_body", Name: "request_buffering-off-chunked-http11-64k-not-retried", Servers: []Server{srv(b.CloseBeforeHeader()), srv(b.OK())},
			Directives: off("1.1"), Requests: reqs(chunked(65536))},
		Scenario{Area: "client_body", Name: "request_buffering-off-chunked-http10-64k-retried", Servers: []Server{srv(b.CloseBeforeHeader()), srv(b.OK())},
			Directives: off("1.0"), Requests: reqs(chunked(65536))},
		// Past client_max_body_size in what came with the head: refused
		// before any upstream. (Past it later, once streaming, is 413 with
		// the line "while sending request to upstream" in both, but whether
		// the upstream counts the cut request as a hit is a race:
		// TestRequestBufferingOffChunkedTooLarge.)
		Scenario{Area: "client_body", Name: "request_buffering-off-chunked-http11-too-large-413", Servers: []Server{srv(b.OK())},
			Directives: join(off("1.1"), dirs("client_max_body_size", "6k")), Requests: reqs(chunked(65536))},
		Scenario{Area: "client_body", Name: "chunked-discard-broken-400", Servers: []Server{srv(b.OK())},
			Locations: []Location{{"/r", dirs("return", `200 "r\n"`)}},
			Requests:  reqs(raw("GET /r HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nSEE-THIS\r\n0\r\n\r\n"))},
	)
}
