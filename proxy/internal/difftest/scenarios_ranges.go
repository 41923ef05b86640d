package difftest

import b "spillway/bench/upstreamsim"

// Ranges on proxied answers and max_ranges: proxy_force_ranges answers a
// Range from the upstream's 200 (one range a 206, several the whole body,
// an unsatisfiable one 416, If-Range against the answer's validators),
// small bodies and ones past proxy_buffers alike; without it the upstream's
// answer passes whole. max_ranges limits a static file's ranges (past it the
// whole file), 0 turns them off (no Accept-Ranges). And the not-modified
// filter's if_modified_since.
func init() {
	rng := func(path, r string, more ...string) Request {
		q := withHeader(get(path), "Range: "+r)
		for _, h := range more {
			q = withHeader(q, h)
		}
		return q
	}
	Scenarios = append(Scenarios,
		Scenario{Area: "ranges", Name: "proxy_force_ranges",
			Servers: []Server{srv(b.OK().WithSize(100), b.OK().At("/big").WithSize(200000))},
			Locations: []Location{
				staticLoc("/f/", "proxy_pass", "http://app", "proxy_force_ranges", "on"),
				staticLoc("/f/big", "proxy_pass", "http://app/big", "proxy_force_ranges", "on"),
			},
			Requests: reqs(rng("/x", "bytes=2-5"), get("/f/x"), rng("/f/x", "bytes=2-5"), rng("/f/x", "bytes=-3"),
				rng("/f/x", "bytes=0-1,4-5"), rng("/f/x", "bytes=100-"), rng("/f/x", "bytes=2-5", "If-Range: \"nope\""),
				rng("/f/big", "bytes=150000-150009"), rng("/f/big", "bytes=199990-")),
			Headers: []string{"Content-Range", "Accept-Ranges"}},
		Scenario{Area: "ranges", Name: "max_ranges",
			Servers: []Server{srv(b.OK())},
			Files:   map[string]string{"www/t.html": "SEE-THIS-FILE"},
			Locations: []Location{
				staticLoc("/one/", "alias", "{DIR}/www/", "max_ranges", "1"),
				staticLoc("/none/", "alias", "{DIR}/www/", "max_ranges", "0"),
			},
			Requests: reqs(rng("/one/t.html", "bytes=0-2"), rng("/one/t.html", "bytes=0-2,4-7"), rng("/one/t.html", "bytes=40-"),
				rng("/none/t.html", "bytes=0-2"), get("/none/t.html")),
			Headers: []string{"Content-Range", "Accept-Ranges"}},
		// if_modified_since exact (the default), before and off: dates
		// equal to the file's, later (not_modified.t's 2037), earlier.
		Scenario{Area: "ranges", Name: "if_modified_since",
			Servers: []Server{srv(b.OK())},
			Files:   map[string]string{"www/t.html": "SEE-THIS-FILE"},
			Locations: []Location{
				staticLoc("/e/", "alias", "{DIR}/www/"),
				staticLoc("/b/", "alias", "{DIR}/www/", "if_modified_since", "before"),
				staticLoc("/o/", "alias", "{DIR}/www/", "if_modified_since", "off"),
			},
			Requests: func() []Request {
				var rs []Request
				for _, p := range []string{"/e/t.html", "/b/t.html", "/o/t.html"} {
					for _, d := range []string{lastModified, "Wed, 08 Jul 2037 22:53:52 GMT", "Thu, 01 Jan 2026 03:04:05 GMT"} {
						rs = append(rs, withHeader(get(p), "If-Modified-Since: "+d))
					}
				}
				return rs
			}()},
	)
}
