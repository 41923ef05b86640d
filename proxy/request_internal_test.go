package proxy

import (
	"bufio"
	"bytes"
	"io"
	"testing"

	"github.com/valyala/fasthttp"

	"spillway/proxy/client"
	"spillway/proxy/internal/httphead"
)

// headLFReader reads src through a HeadLF, as the connection loop reads a
// client's head (bare LFs made CRLF, names nginx ignores masked).
type headLFReader struct {
	lf  client.HeadLF
	src io.Reader
}

func (r *headLFReader) Read(b []byte) (int, error) { return r.lf.Read(r.src.Read, b) }

// parseClientHead is the head of "GET / HTTP/1.1\r\n" and lines as the
// connection loop parses it (HeadLF, fasthttp with names as sent), or
// false where fasthttp refuses it.
func parseClientHead(lines []byte) (*fasthttp.RequestHeader, bool) {
	in := append([]byte("GET / HTTP/1.1\r\n"), lines...)
	var h fasthttp.RequestHeader
	h.DisableNormalizing()
	if err := h.Read(bufio.NewReader(&headLFReader{src: bytes.NewReader(in)})); err != nil {
		return nil, false
	}
	return &h, true
}

// fzSetNames are the proxy_set_header names FuzzClientHeaders draws from.
var fzSetNames = []string{"Host", "Connection", "X-Real-IP", "user-agent", "Accept", "X-A", "Keep-Alive", "a.b"}

// FuzzClientHeaders holds appendClientHeaders, which cuts the client's
// raw header lines itself (httphead.CutField) and drops names through
// dropHeader, to refClientHeaders, the loop over fasthttp's AllInOrder
// and the drop rules as they were at 47fe871: for any head fasthttp
// parses (after HeadLF, as the connection reads it), any proxy_set_header
// names and any names Check ignored, the same bytes go upstream.
func FuzzClientHeaders(f *testing.F) {
	for _, s := range []string{
		"Host: 127.0.0.1:29640\r\nuser-agent: h2load nghttp2/1.52.0\r\n\r\n",
		"Host: a\r\nConnection: keep-alive, X-A , \u212aeep\r\nX-a: 1\r\nkeep: 2\r\nTE: trailers\r\n\r\n",
		"Host: a\r\nX-A: a\r\n b\r\n\tc\r\nY: d\r\n\r\n",
		"Host: a\nX:  \t v \t \nY:\n\n",
		"Host: a\r\nX_Y: 1\r\na.b: 2\r\nA@B: 3\r\nX: a\rb\r\r\n\r\n",
		"Host: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\nProxy-Connection: x\r\n\r\nabc",
		"Host: a\r\nConnection: close,,x-real-ip\r\nX-Real-IP: 1\r\nConnection: y\r\ny: 2\r\n\r\n",
		"Host: a\r\nConnection: a, b,c , d,e, x-a,\xc2\xa0Y\xc2\xa0\r\nX-A: 1\r\ny: 2\r\ne: 3\r\n\r\n",
		"Host: a\r\nUser-Agent: 1\r\nuser-agent: 2\r\nX: \xc3\xa9\r\n\r\n",
	} {
		f.Add([]byte(s), uint8(3), true)
		f.Add([]byte(s), uint8(0xa5), false)
	}
	f.Fuzz(func(t *testing.T, lines []byte, sets uint8, ignore bool) {
		h, ok := parseClientHead(lines)
		if !ok {
			return
		}
		ref, _ := parseClientHead(lines) // AllInOrder joins folded lines in place: a head each
		loc := &location{}
		for i, n := range fzSetNames {
			if sets&(1<<i) != 0 {
				loc.set = append(loc.set, compiledHeader{name: n})
			}
		}
		loc.drop = dropNames(loc.set) // as buildLocation
		x := &exchange{exchangeState: exchangeState{loc: loc}}
		var refIgnored [][]byte
		if ignore { // the names with '.' or '_' (Check: names nginx ignores), as fasthttp holds them
			x.ignored, refIgnored = dottedNames(h.RawHeaders()), dottedNames(ref.RawHeaders())
		}
		got := x.appendClientHeaders(nil, h)
		want := refClientHeaders(nil, ref, loc, refIgnored)
		if !bytes.Equal(got, want) {
			t.Fatalf("head %q, proxy_set_header %08b, ignored %q:\n got %q\nwant %q", lines, sets, x.ignored, got, want)
		}
	})
}

// dottedNames are the names of raw's lines with a '.' or a '_', as Check
// lists the names nginx ignores: slices of raw.
func dottedNames(raw []byte) [][]byte {
	var names [][]byte
	for len(raw) > 0 {
		var line []byte
		line, raw = httphead.CutLine(raw)
		if name, _, ok := bytes.Cut(line, []byte(":")); ok && bytes.ContainsAny(name, "._") {
			names = append(names, name)
		}
	}
	return names
}

var refHopByHop = httphead.NewNameSet(hopByHop[:]...)

// refClientHeaders is appendHead's loop over the client's headers as it
// was at 47fe871, with its dropHeader: FuzzClientHeaders's oracle.
func refClientHeaders(dst []byte, req *fasthttp.RequestHeader, loc *location, ignored [][]byte) []byte {
	connection := req.PeekCanonical([]byte(fasthttp.HeaderConnection))
	drop := func(name []byte) bool {
		for _, n := range ignored {
			if bytes.Equal(name, n) {
				return true
			}
		}
		if refHopByHop.Has(name) {
			return true
		}
		for i := range loc.set {
			if httphead.NameIs(name, loc.set[i].name) {
				return true
			}
		}
		for connection := connection; len(connection) > 0; {
			var tok []byte
			tok, connection, _ = bytes.Cut(connection, []byte(","))
			if bytes.EqualFold(bytes.TrimSpace(tok), name) {
				return true
			}
		}
		return false
	}
	for k, v := range req.AllInOrder() {
		if drop(k) {
			continue
		}
		dst = append(dst, k...)
		dst = append(dst, ": "...)
		dst = append(dst, v...)
		dst = append(dst, "\r\n"...)
	}
	return dst
}

// TestCutFieldLikeAllInOrder: the lines CutField splits itself and the
// ones it leaves to AllInOrder.
func TestCutFieldLikeAllInOrder(t *testing.T) {
	for _, c := range []struct {
		raw   string
		names []string // CutField's, up to the end or an odd line
		odd   bool
	}{
		{"Host: a\r\nX: b\r\n\r\n", []string{"Host", "X"}, false},
		{"Host: a\r\nX: b\r\n c\r\n\r\n", []string{"Host"}, true}, // X's value is folded
		{"X: b\r\n\r\nY: c\r\n", []string{"X"}, false},            // the empty line ends the head
		{"X: b\r\n", nil, true},                                   // no line after it: AllInOrder yields nothing
	} {
		var names []string
		odd := false
		for raw := []byte(c.raw); ; {
			name, _, rest, cut := httphead.CutField(raw)
			if cut == httphead.FieldOdd {
				odd = true
			}
			if cut != httphead.FieldLine {
				break
			}
			names = append(names, string(name))
			raw = rest
		}
		if odd != c.odd || len(names) != len(c.names) {
			t.Errorf("%q: %q odd %v, want %q odd %v", c.raw, names, odd, c.names, c.odd)
		}
	}
	h, ok := parseClientHead([]byte("Host: a\r\nX:\t v\t \r\nY:\r\nZ: a\r\n  b \r\n\r\n"))
	if !ok {
		t.Fatal("the head was refused")
	}
	x := &exchange{exchangeState: exchangeState{loc: &location{drop: dropNames(nil)}}}
	if got, want := string(x.appendClientHeaders(nil, h)), "Host: a\r\nX: v\r\nY: \r\nZ: a b\r\n"; got != want {
		t.Errorf("forwarded %q, want %q", got, want)
	}
}

// browserHead is a browser's request head: ten lines, Connection among
// them.
const browserHead = "Host: example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\n" +
	"Accept-Encoding: gzip, deflate, br\r\nConnection: keep-alive\r\nCookie: a=1; b=2\r\nUpgrade-Insecure-Requests: 1\r\n" +
	"Sec-Fetch-Dest: document\r\nPriority: u=0, i\r\n\r\n"

// TestAppendClientHeadersAllocs: forwarding a head's lines allocates
// nothing (Connection's tokens are split into the stack).
func TestAppendClientHeadersAllocs(t *testing.T) {
	h, ok := parseClientHead([]byte(browserHead))
	if !ok {
		t.Fatal("the head was refused")
	}
	loc := &location{set: []compiledHeader{{name: "Host"}, {name: "Connection"}}}
	loc.drop = dropNames(loc.set)
	x := &exchange{exchangeState: exchangeState{loc: loc}}
	dst := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { dst = x.appendClientHeaders(dst[:0], h) }); n != 0 {
		t.Errorf("%v allocations per head", n)
	}
	if bytes.Contains(dst, []byte("Connection")) || bytes.Contains(dst, []byte("Host")) || !bytes.Contains(dst, []byte("Priority: u=0, i\r\n")) {
		t.Errorf("forwarded %q", dst)
	}
}

// BenchmarkAppendClientHeaders: the client's header lines of a browser's
// head, as appendHead forwards them with the default proxy_set_header.
func BenchmarkAppendClientHeaders(b *testing.B) {
	h, ok := parseClientHead([]byte(browserHead))
	if !ok {
		b.Fatal("the head was refused")
	}
	loc := &location{set: []compiledHeader{{name: "Host"}, {name: "Connection"}}}
	loc.drop = dropNames(loc.set)
	x := &exchange{exchangeState: exchangeState{loc: loc}}
	dst := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		dst = x.appendClientHeaders(dst[:0], h)
	}
}
