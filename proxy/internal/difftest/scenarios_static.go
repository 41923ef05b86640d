package difftest

import (
	"strings"

	b "spillway/bench/upstreamsim"
)

// Static files (root, alias, index, try_files; proxy/static): status,
// body, the headers of a static answer, the error lines and the upstream
// hits, nginx against spillway.

// staticFiles is the document tree under {DIR}/www.
var staticFiles = map[string]string{
	"www/s/a.html":           "<p>a</p>\n",
	"www/s/x.unknownext":     "plain\n",
	"www/s/img/logo.gif":     "GIF89a",
	"www/s/d/index.html":     "index of d\n",
	"www/s/e/readme.txt":     "no index here\n",
	"www/s/big.bin":          strings.Repeat("0123456789abcdef", 1<<14), // 256 KiB: sendfile
	"www/s/pass/here.txt":    "on disk\n",
	"www/n/here.txt":         "named\n",
	"www/s/.hidden":          "x",
	"www/s/a name & <b>.txt": "odd",
	"www/s/a-very-long-file-name-that-goes-past-fifty-columns-of-the-listing.txt": "long",
	"www/s/zz-dir-with-exactly-fifty-characters-in-its-name/x":                    "x",
}

func staticLoc(path string, kv ...string) Location {
	return Location{Path: path, Directives: dirs(kv...)}
}

func head(path string) Request { return Request{Method: "HEAD", Path: path} }

const (
	lastModified = "Fri, 02 Jan 2026 03:04:05 GMT"
	aHTMLETag    = `"695735a5-9"`
)

func staticScenarios() []Scenario {
	root := []Location{staticLoc("/s/", "root", "{DIR}/www")}
	sc := func(name string, locs []Location, rs ...Request) Scenario {
		return Scenario{Area: "static", Name: name, Servers: []Server{srv(b.OK())}, Files: staticFiles, Locations: locs, Requests: rs}
	}
	return []Scenario{
		sc("static-files", root, get("/s/a.html"), head("/s/a.html"), get("/s/x.unknownext"), get("/s/img/logo.gif"),
			get("/s/big.bin"), get("/s/nope.html"), req("POST", "/s/a.html", 0), req("POST", "/s/nope", 0), get("/s/../s/a.html")),
		sc("static-directories", root, get("/s/d"), get("/s/d/"), get("/s/e/"), get("/s/nodir/"), get("/s/d?x=1")),
		sc("static-conditional", root,
			withHeader(get("/s/a.html"), "If-Modified-Since: "+lastModified),
			withHeader(get("/s/a.html"), "If-Modified-Since: Sat, 03 Jan 2026 03:04:05 GMT"),
			withHeader(get("/s/a.html"), "If-None-Match: "+aHTMLETag),
			withHeader(get("/s/a.html"), `If-None-Match: "x", W/`+aHTMLETag),
			withHeader(get("/s/a.html"), `If-Match: "x"`),
			withHeader(get("/s/a.html"), "If-Match: *"),
			withHeader(get("/s/a.html"), "If-Unmodified-Since: Thu, 01 Jan 2026 00:00:00 GMT"),
			withHeader(get("/s/a.html"), "If-Unmodified-Since: "+lastModified)),
		sc("static-range", root,
			withHeader(get("/s/a.html"), "Range: bytes=1-3"),
			withHeader(get("/s/a.html"), "Range: bytes=-2"),
			withHeader(get("/s/a.html"), "Range: bytes=5-"),
			withHeader(get("/s/a.html"), "Range: bytes=2-100"),
			withHeader(get("/s/a.html"), "Range: bytes=9-"),
			withHeader(get("/s/big.bin"), "Range: bytes=100000-"),
			withHeader(withHeader(get("/s/a.html"), "Range: bytes=1-3"), `If-Range: "x"`),
			withHeader(withHeader(get("/s/a.html"), "Range: bytes=1-3"), "If-Range: "+aHTMLETag),
			withHeader(get("/s/a.html"), "Range: items=1-3")),
		sc("static-alias", []Location{staticLoc("/pics/", "alias", "{DIR}/www/s/img/"), staticLoc(`~ ^/re/(.+)$`, "alias", "{DIR}/www/s/img/$1")},
			get("/pics/logo.gif"), get("/pics/none.gif"), get("/re/logo.gif"), get("/re/none")),
		sc("static-try_files", []Location{root[0],
			staticLoc("/t/", "root", "{DIR}/www", "try_files", "$uri $uri/ /s/a.html"),
			staticLoc("/c/", "root", "{DIR}/www", "try_files", "$uri =404"),
			staticLoc("/p/", "root", "{DIR}/www", "try_files", "$uri /x")},
			get("/t/../s/d/index.html"), get("/t/none"), get("/c/none"), get("/p/none")),
		sc("static-try_files-before-proxy_pass", []Location{staticLoc("/s/pass/", "root", "{DIR}/www", "try_files", "$uri =404", "proxy_pass", "http://app")},
			get("/s/pass/here.txt"), get("/s/pass/none")),
		sc("static-try_files-named-location", []Location{staticLoc("/n/", "root", "{DIR}/www", "try_files", "$uri $uri/ @app"),
			staticLoc("@app", "proxy_pass", "http://app")},
			get("/n/here.txt"), get("/n/none?q=1"), get("/n/%41b"), req("POST", "/n/none", 10)),
		sc("static-internal-redirect-access", []Location{staticLoc("/g/", "root", "{DIR}/www", "try_files", "$uri /private/x"),
			staticLoc("/private/", "deny", "all", "proxy_pass", "http://app")},
			get("/g/none"), get("/private/x")),
		sc("static-autoindex", []Location{staticLoc("/s/", "root", "{DIR}/www", "autoindex", "on")},
			get("/s/"), get("/s/e/"), get("/s/d/"), head("/s/e/"), req("POST", "/s/e/", 0), get("/s/nodir/")),
		sc("static-index-names", []Location{staticLoc("/s/", "root", "{DIR}/www", "index", "none.html index.html")}, get("/s/d/"), get("/s/e/")),
		sc("static-default_type-etag-log_not_found", []Location{staticLoc("/s/", "root", "{DIR}/www", "default_type", "application/octet-stream",
			"etag", "off", "log_not_found", "off")}, get("/s/x.unknownext"), get("/s/a.html"), get("/s/nope")),
		sc("static-range-multipart", root, withHeader(get("/s/a.html"), "Range: bytes=0-1,3-4")),
		sc("static-range-lists", root,
			withHeader(get("/s/a.html"), "Range: bytes=0-1, 5-, -1"),
			withHeader(get("/s/a.html"), "Range: bytes=0-8,0-8"),
			withHeader(get("/s/a.html"), "Range: bytes=20-30,40-"),
			withHeader(get("/s/a.html"), "Range: bytes=5-2"),
			withHeader(get("/s/a.html"), "Range: bytes=-0"),
			withHeader(get("/s/a.html"), "Range: bytes=1-2,x")),
	}
}

func init() { Scenarios = append(Scenarios, staticScenarios()...) }
