package difftest

import b "spillway/bench/upstreamsim"

// The client's real address: the realip module (X-Forwarded-For,
// recursive or not, X-Real-IP, the PROXY protocol header) and "listen ...
// proxy_protocol" (v1, v2, UNKNOWN, a broken header), with the addresses
// in the access log and allow/deny acting on the real client.
func init() {
	// Without $remote_port: it is the connection's own (a different port
	// on each side) whenever realip keeps the address; proxy's
	// TestRealIP checks it.
	const realFormat = `$status "$request" $remote_addr $realip_remote_addr $proxy_protocol_addr $proxy_protocol_port`
	xff := func(v ...string) Request {
		r := get("/x")
		for _, h := range v {
			r.Header = append(r.Header, "X-Forwarded-For: "+h)
		}
		return r
	}
	withH := func(h string) Request { r := get("/x"); r.Header = append(r.Header, h); return r }
	pp := func(head string) Request {
		return raw(head + "GET /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
	}
	// A v2 PROXY header, TCP over IPv4: 198.51.100.3:4444 to 192.0.2.2:80.
	const v2 = "\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\xc6\x33\x64\x03\xc0\x00\x02\x02\x11\x5c\x00\x50"
	Scenarios = append(Scenarios,
		Scenario{Area: "realip", Name: "realip-x-forwarded-for-recursive", Servers: []Server{srv(b.OK())},
			Directives: dirs("set_real_ip_from", "127.0.0.0/8", "set_real_ip_from", "10.0.0.0/8",
				"real_ip_header", "X-Forwarded-For", "real_ip_recursive", "on", "deny", "203.0.113.0/24"),
			AccessFormat: realFormat,
			Requests: reqs(xff("198.51.100.7, 10.1.1.1"), xff("198.51.100.7:99, 10.1.1.1"), xff("junk, 10.1.1.1"),
				xff("10.2.2.2, 10.1.1.1"), xff("1.1.1.1", "2.2.2.2, 10.1.1.1"), xff("203.0.113.7"), get("/x"))},
		Scenario{Area: "realip", Name: "realip-x-forwarded-for", Servers: []Server{srv(b.OK())},
			Directives:   dirs("set_real_ip_from", "127.0.0.1", "real_ip_header", "X-Forwarded-For"),
			AccessFormat: realFormat,
			Requests:     reqs(xff("198.51.100.7, 10.1.1.1"), xff("198.51.100.7")),
		},
		Scenario{Area: "realip", Name: "realip-x-real-ip", Servers: []Server{srv(b.OK())},
			Directives:   dirs("set_real_ip_from", "127.0.0.1"),
			AccessFormat: realFormat,
			Requests: reqs(withH("X-Real-IP: 198.51.100.9"), withH("X-Real-IP: 198.51.100.9, 198.51.100.10"),
				withH("X-Real-IP: [2001:db8::1]:80"), withH("X-Real-IP: nonsense"), get("/x"))},
		Scenario{Area: "realip", Name: "realip-untrusted", Servers: []Server{srv(b.OK())},
			Directives:   dirs("set_real_ip_from", "192.0.2.0/24", "real_ip_header", "X-Forwarded-For"),
			AccessFormat: realFormat,
			Requests:     reqs(xff("198.51.100.7"))},
		Scenario{Area: "realip", Name: "proxy_protocol", Servers: []Server{srv(b.OK())}, ListenParams: "proxy_protocol",
			AccessFormat: realFormat,
			Requests: reqs(pp("PROXY TCP4 192.0.2.1 192.0.2.2 5555 80\r\n"), pp("PROXY TCP6 2001:db8::7 2001:db8::8 6666 443\r\n"),
				pp("PROXY UNKNOWN\r\n"), pp(v2))},
		Scenario{Area: "realip", Name: "proxy_protocol-real_ip_header", Servers: []Server{srv(b.OK())}, ListenParams: "proxy_protocol",
			Directives:   dirs("set_real_ip_from", "127.0.0.0/8", "real_ip_header", "proxy_protocol", "deny", "203.0.113.0/24"),
			AccessFormat: realFormat,
			Requests: reqs(pp("PROXY TCP4 192.0.2.1 192.0.2.2 5555 80\r\n"), pp(v2), pp("PROXY UNKNOWN\r\n"),
				pp("PROXY TCP4 203.0.113.9 192.0.2.2 5555 80\r\n"))},
		Scenario{Area: "realip", Name: "proxy_protocol-broken", Servers: []Server{srv(b.OK())}, ListenParams: "proxy_protocol",
			AccessFormat: realFormat,
			Requests:     reqs(pp(""), pp("PROXY TCP4 192.0.2.1 192.0.2.2 5555\r\n")),
			Diff: &Difference{Aspects: []Aspect{AspectLog},
				Reason: "deliberate (proxy/errorlog): nginx's `broken header` line quotes the bytes of the connection's first read with their CR and LF raw; spillway writes them as `\\x0d\\x0a`, so that one entry is always one line"}},
	)
}
