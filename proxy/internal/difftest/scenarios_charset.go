package difftest

import (
	"strings"

	b "spillway/bench/upstreamsim"
)

// The charset filter (proxy/charset): when Content-Type names a charset,
// and the recoding through charset_map of files, return's text and proxied
// bodies, with the heads nginx sends for each (Content-Length and ranges
// kept by a byte-for-byte recoding, dropped by one to or from utf-8).

// charsetMaps are the maps the scenarios recode through: B>A turns X into
// Y (nginx's charset.t), koi8-r>utf-8 three letters and, for the upstream's
// ASCII pattern, "a" into "а".
var charsetMaps = dirs(
	"charset_map", "B A { 58 59; }",
	"charset_map", "koi8-r utf-8 { C1 D0B0; C2 D0B1; 61 D0B0; }")

var charsetFiles = map[string]string{
	"www/c/t.html": strings.Repeat("X", 990) + "0123456789",
	"www/c/k.html": strings.Repeat("b\xc1\xc2\xc3", 300), // \xc3 is in no map: "?"
	"www/c/u.html": "b\u0430\u0431\u0432\U0001F600\n",    // в is in no map: "&#1074;"
}

func charsetScenarios() []Scenario {
	alias := func(path string, kv ...string) Location {
		return staticLoc(path, append([]string{"alias", "{DIR}/www/c/"}, kv...)...)
	}
	rng := func(path, r string) Request { return withHeader(get(path), "Range: bytes="+r) }
	heads := []string{"Content-Length", "Transfer-Encoding"}
	xac := b.OK()
	xac.Header = []string{"X-Accel-Charset: A"}
	xunknown := b.OK()
	xunknown.Header = []string{"X-Accel-Charset: cp1251"}
	xlower := b.OK() // nginx finds the name in any case
	xlower.Header = []string{"x-accel-charset: A"}
	return []Scenario{
		{Area: "charset", Name: "charset-named", Servers: []Server{srv(b.OK())}, Files: charsetFiles,
			Locations: []Location{
				alias("/f/", "charset", "utf-8"),
				alias("/ft/", "charset", "koi8-r", "charset_types", "text/plain"),
				staticLoc("/r/", "charset", "utf-8", "return", `200 "hi"`),
				staticLoc("/rd/", "charset", "utf-8", "return", "302 /f/t.html"),
				staticLoc("/e/", "charset", "utf-8", "return", "404"),
				staticLoc("/same/", "alias", "{DIR}/www/c/", "charset", "UTF-8", "source_charset", "utf-8"),
				alias("/v/", "charset", "$arg_c")},
			Requests: reqs(get("/f/t.html"), get("/ft/t.html"), get("/r/"), get("/rd/"), get("/e/"), get("/same/t.html"),
				rng("/same/t.html", "0-3"), get("/v/t.html?c=UTF-8"), get("/v/t.html?c=")),
			Headers: []string{"Transfer-Encoding"}}, // the body aspect covers the length (a page's footer differs)
		{Area: "charset", Name: "charset_map-files", Servers: []Server{srv(b.OK())}, Files: charsetFiles,
			Directives: charsetMaps,
			Locations: []Location{
				alias("/ab/", "charset", "A", "source_charset", "B"),
				alias("/ku/", "charset", "utf-8", "source_charset", "koi8-r"),
				alias("/uk/", "charset", "koi8-r", "source_charset", "utf-8"),
				staticLoc("/r/", "charset", "A", "source_charset", "B", "return", `200 "XaX"`),
				staticLoc("/ru/", "charset", "utf-8", "source_charset", "koi8-r", "return", `200 "XaX"`),
				alias("/sv/", "charset", "A", "source_charset", "$arg_s")},
			Requests: reqs(get("/ab/t.html"), rng("/ab/t.html", "985-994"), rng("/ab/t.html", "0-1,995-"), head("/ab/t.html"),
				get("/ku/k.html"), rng("/ku/k.html", "0-9"), head("/ku/k.html"), get("/uk/u.html"), get("/r/"),
				get("/sv/t.html?s=b"), get("/sv/t.html?s=koi8-u"), get("/ru/"), head("/ku/none")), // GET: the map recodes the page footer
			Headers: heads},
		{Area: "charset", Name: "charset_map-proxied", Servers: []Server{srv(xac.At("/xa/"), xunknown.At("/xu/"), xlower.At("/xl/"), b.OK())},
			Directives: append(dirs("charset", "utf-8", "source_charset", "koi8-r", "charset_types", "application/octet-stream"), charsetMaps...),
			Requests: reqs(get("/size/100"), get("/size/300k"), req("HEAD", "/size/100", 0), get("/xa/size/100"), get("/xu/size/100"),
				get("/xl/size/100"), closing(Request{Raw: "GET /size/100 HTTP/1.0\r\nHost: localhost\r\n\r\n"})),
			Headers: append([]string{"Content-Type"}, heads...)},
		{Area: "charset", Name: "charset_map-unbuffered", Servers: []Server{srv(b.OK())},
			Directives: append(dirs("charset", "utf-8", "source_charset", "koi8-r", "charset_types", "application/octet-stream",
				"proxy_buffering", "off"), charsetMaps...),
			Requests: reqs(get("/size/100"), get("/size/300k")),
			Headers:  append([]string{"Content-Type"}, heads...)},
	}
}

func init() { Scenarios = append(Scenarios, charsetScenarios()...) }
