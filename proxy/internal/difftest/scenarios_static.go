package difftest

import (
	"bytes"
	"compress/gzip"
	"fmt"
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
		// index names with variables, evaluated per request; one starting
		// with "/" is a URI (nginx-tests' index.t)
		sc("static-index-variables", []Location{staticLoc("/s/", "root", "{DIR}/www", "index", "none.html $arg_i.html"),
			staticLoc("/v/", "root", "{DIR}/www", "index", "/s/$arg_to")},
			get("/s/d/?i=index"), get("/s/d/?i=zz"), get("/s/nodir/?i=foo"), get("/v/?to=a.html")),
		// a map's value is kept for the request across the index's
		// redirect, a volatile one's is not (nginx-tests' map_volatile.t)
		{Area: "static", Name: "static-index-map-cached", Servers: []Server{srv(b.OK())}, Files: staticFiles,
			Directives: dirs("map", "$uri $mc { /m/ /m/redirect; /m/redirect uncached; }",
				"map", "$uri $mv { volatile; /m/ /m/redirect; /m/redirect uncached; }"),
			Locations: []Location{staticLoc("/m/", "root", "{DIR}/www", "index", "$mc"), staticLoc("/m/redirect", "return", `200 "$mc $mv\n"`),
				staticLoc("/w/", "root", "{DIR}/www", "index", "$mv")},
			Requests: reqs(get("/m/"), get("/w/"))},
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

// gzipped is s compressed, as a .gz file for gzip_static.
func gzipped(s string) string {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write([]byte(s))
	_ = zw.Close()
	return b.String()
}

// gzFiles are staticFiles plus the .gz siblings gzip_static serves: their
// content differs from the plain file's, so the body says which was sent.
func gzFiles() map[string]string {
	m := map[string]string{}
	for k, v := range staticFiles {
		m[k] = v
	}
	m["www/s/a.html.gz"] = gzipped("<p>a, compressed</p>\n")
	m["www/s/only.txt.gz"] = gzipped("only compressed\n")
	m["www/s/d.gz/x"] = "a directory named like a .gz"
	// Names a listing counts in bytes, or in characters under charset
	// utf-8, and escapes as nginx (not the apostrophe).
	for _, n := range []string{"it's", strings.Repeat("é", 30), "é&" + strings.Repeat("é", 40), strings.Repeat("ü", 10), "a&b" + strings.Repeat("x", 60)} {
		m["www/s/u/"+n] = n
	}
	return m
}

// gzip_static, charset and the autoindex formats: Content-Encoding and
// Vary are compared besides the static headers.
func staticFilterScenarios() []Scenario {
	files := gzFiles()
	gzETag := fmt.Sprintf(`"695735a5-%x"`, len(files["www/s/a.html.gz"]))
	sc := func(name string, locs []Location, rs ...Request) Scenario {
		return Scenario{Area: "static", Name: name, Servers: []Server{srv(b.OK())}, Files: files, Locations: locs, Requests: rs,
			Headers: []string{"Content-Encoding", "Vary", "X-Static", "Expires", "Cache-Control",
				"trailer:X-T", "trailer:X-A", "trailer:X-Empty"}}
	}
	ae := func(r Request) Request { return withHeader(r, "Accept-Encoding: gzip, deflate") }
	root := func(kv ...string) []Location {
		return []Location{staticLoc("/s/", append([]string{"root", "{DIR}/www"}, kv...)...)}
	}
	return []Scenario{
		sc("static-gzip_static", root("gzip_static", "on", "gzip_vary", "on"),
			ae(get("/s/a.html")), get("/s/a.html"), ae(head("/s/a.html")), ae(get("/s/only.txt")), get("/s/only.txt"),
			ae(get("/s/big.bin")), withHeader(get("/s/a.html"), "Accept-Encoding: gzip;q=0"),
			withHeader(ae(get("/s/a.html")), "Range: bytes=0-3"), withHeader(ae(get("/s/a.html")), "If-None-Match: "+gzETag),
			ae(get("/s/d")), ae(req("POST", "/s/a.html", 0)), ae(get("/s/nope"))),
		sc("static-gzip_static-vary_off", root("gzip_static", "on"), ae(get("/s/a.html")), get("/s/a.html"), get("/s/only.txt")),
		sc("static-gzip_static-always", []Location{staticLoc("/g/", "alias", "{DIR}/www/s/", "gzip_static", "always", "gzip_vary", "on")},
			get("/g/a.html"), ae(get("/g/a.html")), get("/g/only.txt"), get("/g/x.unknownext")),
		sc("static-gzip_static-proxied", root("gzip_static", "on", "gzip_vary", "on"),
			withHeader(ae(get("/s/a.html")), "Via: 1.1 cdn"), withHeader(ae(get("/s/a.html")), "User-Agent: Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)")),
		sc("static-gzip_static-try_files", root("gzip_static", "on", "try_files", "$uri /s/only.txt"), ae(get("/s/none")), get("/s/none")),
		sc("static-charset", root("charset", "utf-8"),
			get("/s/a.html"), get("/s/x.unknownext"), get("/s/img/logo.gif"), get("/s/nope"), get("/s/d"),
			withHeader(get("/s/a.html"), "Range: bytes=0-1,3-4"), withHeader(get("/s/a.html"), "If-None-Match: "+aHTMLETag)),
		sc("static-charset-source_charset-types", root("charset", "UTF-8", "source_charset", "utf-8", "charset_types", "image/gif"),
			get("/s/a.html"), get("/s/img/logo.gif")),
		sc("static-charset-gzip_static", root("charset", "utf-8", "gzip_static", "on"), ae(get("/s/a.html"))),
		sc("static-autoindex-formats", []Location{
			staticLoc("/j/", "alias", "{DIR}/www/s/", "autoindex", "on", "autoindex_format", "json"),
			staticLoc("/x/", "alias", "{DIR}/www/s/", "autoindex", "on", "autoindex_format", "xml"),
			staticLoc("/p/", "alias", "{DIR}/www/s/", "autoindex", "on", "autoindex_format", "jsonp"),
			staticLoc("/h/", "alias", "{DIR}/www/s/", "autoindex", "on", "autoindex_exact_size", "off", "autoindex_localtime", "on")},
			get("/j/"), get("/x/"), get("/p/"), get("/p/?callback=cb.x_1"), get("/p/?a=1&CALLBACK=f"), get("/p/?callback=f-1"),
			get("/p/?callback="+strings.Repeat("a", 129)), get("/h/"), get("/j/img/"), get("/x/d.gz/"), head("/j/"),
			get("/h/u/"), get("/j/u/"), get("/x/u/")),
		sc("static-autoindex-charset", []Location{
			staticLoc("/x/", "alias", "{DIR}/www/s/", "autoindex", "on", "autoindex_format", "xml", "charset", "utf-8"),
			staticLoc("/h/", "alias", "{DIR}/www/s/", "autoindex", "on", "charset", "utf-8")},
			get("/x/img/"), get("/h/img/"), get("/h/u/")),
		sc("static-gzip", root("gzip", "on", "gzip_vary", "on", "gzip_types", "text/plain", "autoindex", "on", "add_header", "X-Static yes"),
			ae(get("/s/a.html")), get("/s/a.html"), ae(head("/s/a.html")), withHeader(ae(get("/s/a.html")), "Range: bytes=1-3"),
			withHeader(get("/s/a.html"), "Range: bytes=1-3"), withHeader(ae(get("/s/a.html")), "Range: bytes=100-"),
			ae(get("/s/x.unknownext")), ae(get("/s/big.bin")), ae(get("/s/e/")), ae(head("/s/e/")), ae(get("/s/nope")),
			withHeader(ae(get("/s/a.html")), "If-None-Match: W/"+aHTMLETag), withHeader(ae(get("/s/x.unknownext")), "Via: 1.1 cdn"),
			withHeader(ae(get("/s/big.bin")), "Range: bytes=1-3"), withHeader(get("/s/big.bin"), "Range: bytes=1-3"),
			withHeader(ae(get("/s/big.bin")), "Range: bytes=300000-"), withHeader(ae(get("/s/big.bin")), "Via: 1.1 cdn")),
		sc("static-gzip-http10", root("gzip", "on", "gzip_http_version", "1.0", "gzip_types", "text/plain", "autoindex", "on"),
			closing(Request{Raw: "GET /s/big.bin HTTP/1.0\r\nHost: localhost\r\nAccept-Encoding: gzip\r\n\r\n"}),
			closing(Request{Raw: "GET /s/e/ HTTP/1.0\r\nHost: localhost\r\nAccept-Encoding: gzip\r\n\r\n"}),
			closing(Request{Raw: "GET /s/e/ HTTP/1.0\r\nHost: localhost\r\n\r\n"})),
		sc("static-gzip-gzip_static", root("gzip", "on", "gzip_static", "on", "gzip_vary", "on"), ae(get("/s/a.html")), ae(get("/s/d/index.html"))),
		sc("static-add_header-expires", root("add_header", "X-Static yes", "expires", "1h"),
			get("/s/a.html"), withHeader(get("/s/a.html"), "If-None-Match: "+aHTMLETag), withHeader(get("/s/a.html"), "Range: bytes=1-2"),
			get("/s/nope"), get("/s/d"), get("/s/e/"), withHeader(get("/s/a.html"), "Range: bytes=100-")),
		sc("static-add_trailer", root("add_trailer", "X-T v1", "add_trailer", `X-A "$uri" always`, "add_trailer", "X-Empty $http_x_none"),
			get("/s/a.html"), get("/s/nope"), head("/s/a.html"), withHeader(get("/s/a.html"), "Range: bytes=1-2"),
			withHeader(get("/s/a.html"), "Range: bytes=100-"),
			withHeader(get("/s/a.html"), "If-None-Match: "+aHTMLETag), get("/s/e/"), get("/s/big.bin"),
			closing(Request{Raw: "GET /s/a.html HTTP/1.0\r\nHost: localhost\r\n\r\n"})),
		{Area: "headers", Name: "add_trailer-proxied", Servers: []Server{srv(b.Status(502).At("/bad"), b.OK())},
			Directives: dirs("add_trailer", "X-T v1", "add_trailer", "X-Status $upstream_status always"),
			Requests: reqs(get("/size/10"), get("/size/300k"), get("/bad"), get("/status/404"), req("HEAD", "/size/10", 0),
				closing(Request{Raw: "GET /size/10 HTTP/1.0\r\nHost: localhost\r\n\r\n"})),
			Headers: []string{"trailer:X-T", "trailer:X-Status"}},
		{Area: "headers", Name: "add_trailer-unbuffered-gzip", Servers: []Server{srv(b.OK())},
			Directives: dirs("add_trailer", "X-T v1", "proxy_buffering", "off", "gzip", "on", "gzip_types", "application/octet-stream"),
			Requests:   reqs(get("/size/64k"), withHeader(get("/size/64k"), "Accept-Encoding: gzip")),
			Headers:    []string{"Content-Encoding", "trailer:X-T"}},
		{Area: "static", Name: "charset-proxied", Servers: []Server{srv(b.Status(502).At("/bad"), b.OK()), srv(b.Refuse()).with("backup")},
			Directives: dirs("charset", "utf-8", "charset_types", "application/octet-stream text/plain", "proxy_next_upstream", "off"),
			Requests:   reqs(get("/size/10"), get("/bad"), get("/status/404")), Headers: []string{"Content-Type"}},
	}
}

func init() { Scenarios = append(Scenarios, append(staticScenarios(), staticFilterScenarios()...)...) }
