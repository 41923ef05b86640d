package client

import (
	"bytes"
	"errors"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"spillway/proxy/errorlog"
	"spillway/proxy/internal/httphead"
)

// ParseErrorEntry is nginx's info line for a request head that fasthttp
// refused to parse (its Server.ErrorHandler). fasthttp
// has reset the request by then, so the request line and the headers come
// from the bytes its error quotes (parseErrorBytes). f has the client and
// the default server's name, which nginx logs until a Host line picks
// another server (nameOf names the server a Host value chooses); the
// status stays 400.
//
//	fasthttp                                nginx
//	unsupported / cannot find http request  client sent invalid method
//	  method
//	missing required host header            client sent HTTP/1.1 request without "Host" header
//	cannot parse content-length             client sent invalid "Content-Length" header
//	duplicate content-length header         client sent duplicate header line: "Content-Length: 6",
//	                                          previous value: "Content-Length: 5"
//	invalid host (fasthttp.InvalidHostError) client sent invalid host header
//	too many host headers                   client sent duplicate host header: "Host: b",
//	                                          previous value: "Host: a"
//	invalid header value (a NUL)            client sent invalid header line: "X-Foo: a\x00..."
//	(any, with a line that starts with a    client sent invalid header line: "\x20..."
//	  space or a tab: obs-fold)
//	unsupported transfer-encoding: "gzip"   client sent unknown "Transfer-Encoding": "gzip" (501,
//	                                          ParseErrorStatus), or with a second
//	                                          Transfer-Encoding line, client sent
//	                                          duplicate header line (400)
//	unsupported transfer-encoding in an     client sent HTTP/1.0 request with "Transfer-Encoding"
//	  HTTP/1.0 request                        header
//	too many transfer-encoding headers      client sent duplicate header line: "Transfer-Encoding: chunked",
//	                                          previous value: "Transfer-Encoding: chunked"
//	anything else (a bad version, URI, ...) client sent invalid request
func ParseErrorEntry(err error, nameOf func(host []byte) string, f errorlog.Fields, conn uint64) *errorlog.Entry {
	msg := err.Error()
	raw := skipEmptyLines(headBytes(err))
	_, headers := httphead.CutLine(raw)
	if !bytes.ContainsAny(raw, "\r\n") {
		headers = nil
	}
	f.Request = requestLine(raw)
	e := &errorlog.Entry{Level: errorlog.Info, Conn: conn, Action: "reading client request line", Fields: &f}
	const inHeaders = "reading client request headers"
	switch {
	case strings.Contains(msg, "http request method"):
		e.Msg = "client sent invalid method"
	case headers != nil && scanHeaders(headers, " ").second != "":
		// A folded line (obs-fold) fasthttp could not join to a line
		// before it: nginx refuses the line itself, with what came before
		// it (taken to be before the line fasthttp refused).
		h := scanHeaders(headers, " ")
		e.Msg, e.Action = `client sent invalid header line: "`+h.second+`..."`, inHeaders
		f.Server, f.Host, f.Referrer = h.server(nameOf, f.Server), h.host, h.referer
	case errors.As(err, new(fasthttp.InvalidHostError)):
		// The request line, and the Host value nginx refused; no server
		// chosen by it.
		e.Msg, e.Action = "client sent invalid host header", inHeaders
		h := scanHeaders(headers, "")
		f.Host, f.Referrer = h.host, h.referer
	case strings.Contains(msg, "missing required host header") && scanHeaders(headers, "host").first != "":
		// A Host line with an empty value, which fasthttp takes for none:
		// nginx refuses the value, and its line has host: "".
		e.Msg, e.Action = "client sent invalid host header", inHeaders
		f.HostEmpty, f.Referrer = true, scanHeaders(headers, "").referer
	case strings.Contains(msg, "missing required host header"):
		e.Msg, e.Action = `client sent HTTP/1.1 request without "Host" header`, inHeaders
	case strings.Contains(msg, "cannot parse content-length"):
		// nginx checks the length once every header is in: host,
		// referrer and the server chosen by Host are all known.
		e.Msg, e.Action = `client sent invalid "Content-Length" header`, inHeaders
		h := scanHeaders(headers, "")
		f.Server, f.Host, f.Referrer = h.server(nameOf, f.Server), h.host, h.referer
	case strings.Contains(msg, "duplicate content-length header") && scanHeaders(headers, "content-length").second != "":
		h := scanHeaders(headers, "content-length")
		e.Msg, e.Action = `client sent duplicate header line: "`+h.second+`", previous value: "`+h.first+`"`, inHeaders
		f.Server, f.Host, f.Referrer = h.server(nameOf, f.Server), h.host, h.referer
	case strings.Contains(msg, "too many host headers") && scanHeaders(headers, "host").second != "":
		h := scanHeaders(headers, "host")
		e.Msg, e.Action = `client sent duplicate host header: "`+h.second+`", previous value: "`+h.first+`"`, inHeaders
		f.Server, f.Host, f.Referrer = h.server(nameOf, f.Server), h.host, h.referer
	case strings.Contains(msg, "invalid header value") && scanHeaders(headers, "\x00").second != "":
		// A NUL in a value: nginx quotes the line up to it. (Other
		// control bytes fasthttp refuses, nginx takes.)
		h := scanHeaders(headers, "\x00")
		e.Msg, e.Action = `client sent invalid header line: "`+h.second+`..."`, inHeaders
		f.Server, f.Host, f.Referrer = h.server(nameOf, f.Server), h.host, h.referer
	case unknownCoding(msg) && scanHeaders(headers, "transfer-encoding").second != "":
		// nginx refuses a second line before it looks at the coding.
		h := scanHeaders(headers, "transfer-encoding")
		e.Msg, e.Action = `client sent duplicate header line: "`+h.second+`", previous value: "`+h.first+`"`, inHeaders
		f.Server, f.Host, f.Referrer = h.server(nameOf, f.Server), h.host, h.referer
	case unknownCoding(msg) && scanHeaders(headers, "transfer-encoding").first != "":
		// nginx takes "chunked" alone and checks it once every header
		// is in; fasthttp stops at the line.
		h := scanHeaders(headers, "transfer-encoding")
		_, v, _ := strings.Cut(h.first, ": ")
		e.Msg, e.Action = `client sent unknown "Transfer-Encoding": "`+v+`"`, inHeaders
		f.Server, f.Host, f.Referrer = h.server(nameOf, f.Server), h.host, h.referer
	case errors.Is(err, fasthttp.ErrUnsupportedTransferEncoding) && strings.HasSuffix(f.Request, " HTTP/1.0"):
		e.Msg, e.Action = `client sent HTTP/1.0 request with "Transfer-Encoding" header`, inHeaders
		h := scanHeaders(headers, "")
		f.Server, f.Host, f.Referrer = h.server(nameOf, f.Server), h.host, h.referer
	case strings.Contains(msg, "too many transfer-encoding headers") && scanHeaders(headers, "transfer-encoding").second != "":
		h := scanHeaders(headers, "transfer-encoding")
		e.Msg, e.Action = `client sent duplicate header line: "`+h.second+`", previous value: "`+h.first+`"`, inHeaders
		f.Server, f.Host, f.Referrer = h.server(nameOf, f.Server), h.host, h.referer
	default:
		e.Msg = "client sent invalid request"
	}
	return e
}

// ParseErrorStatus is nginx's status for a head fasthttp refused: 501 for
// a transfer coding other than chunked ("Transfer-Encoding: gzip"), 400
// for everything else ParseErrorEntry maps.
func ParseErrorStatus(err error) int {
	if msg := err.Error(); unknownCoding(msg) && !repeatedCoding(msg) {
		return fasthttp.StatusNotImplemented
	}
	return fasthttp.StatusBadRequest
}

// repeatedCoding reports whether the head fasthttp quotes in its error msg
// has two Transfer-Encoding lines: nginx's 400 for the second, whatever
// the coding.
func repeatedCoding(msg string) bool {
	_, headers := httphead.CutLine(skipEmptyLines(parseErrorBytes(msg)))
	return scanHeaders(headers, "transfer-encoding").second != ""
}

// unknownCoding reports whether fasthttp's error msg is its refusal of a
// Transfer-Encoding value other than chunked and identity.
func unknownCoding(msg string) bool {
	return strings.Contains(msg, `unsupported transfer-encoding: "`)
}

// skipEmptyLines drops the empty lines nginx skips before a request line.
func skipEmptyLines(raw []byte) []byte {
	for len(raw) > 0 && (raw[0] == '\r' || raw[0] == '\n') {
		raw = raw[1:]
	}
	return raw
}

// requestLine is nginx's $request for a head it did not finish parsing:
// the bytes from the request line's start to the first CR or LF (all of
// them when no line end came), as read so far.
func requestLine(raw []byte) string {
	raw = skipEmptyLines(raw)
	if i := bytes.IndexAny(raw, "\r\n"); i >= 0 {
		raw = raw[:i]
	}
	return string(raw)
}

// HeadSoFar fills f from the head fasthttp quotes in err, as far as nginx
// had read it when it gave up: the request line, and the host and referrer
// of the complete header lines (an unfinished last line is not one). It
// returns the Host line's value, which chooses the server; nil when none
// came (the default server).
func HeadSoFar(err error, f *errorlog.Fields) (host []byte) {
	raw := skipEmptyLines(headBytes(err))
	f.Request = requestLine(raw)
	if i := bytes.LastIndexByte(raw, '\n'); i >= 0 {
		raw = raw[:i+1]
	} else {
		raw = nil
	}
	_, headers := httphead.CutLine(raw)
	h := scanHeaders(headers, "")
	f.Host, f.Referrer = h.host, h.referer
	if h.host == "" {
		return nil
	}
	return []byte(h.host)
}

// LineEnded reports whether the head fasthttp quotes in err has a complete
// request line: nginx was reading its headers, not its request line. (An
// error that quotes nothing is taken as past the line.)
func LineEnded(err error) bool {
	raw := headBytes(err)
	return raw == nil || bytes.IndexByte(skipEmptyLines(raw), '\n') >= 0
}

// HeadError is a head the connection loop could not read, with the bytes
// of it that had come (its read buffer): what nginx has of the request
// when it refuses it, whatever fasthttp's error quotes.
type HeadError struct {
	Err error
	Raw []byte
}

func (e *HeadError) Error() string { return e.Err.Error() }
func (e *HeadError) Unwrap() error { return e.Err }

// headBytes is the head as it came: a HeadError's bytes, else what
// fasthttp's error quotes (parseErrorBytes).
func headBytes(err error) []byte {
	var he *HeadError
	if errors.As(err, &he) {
		return he.Raw
	}
	return parseErrorBytes(err.Error())
}

// parseErrorBytes returns the start of the client's bytes that fasthttp
// quotes at the end of a parse error: "...: buffer size=N, contents: %q",
// or "%q...%q" (the first and last 200 bytes) for a longer buffer, of which
// only the first part is returned. nil when err has no such quote.
func parseErrorBytes(msg string) []byte {
	i := strings.LastIndex(msg, ": buffer size=")
	if i < 0 {
		return nil
	}
	j := strings.Index(msg[i:], ", contents: ")
	if j < 0 {
		return nil
	}
	q, err := strconv.QuotedPrefix(msg[i+j+len(", contents: "):])
	if err != nil {
		return nil
	}
	s, err := strconv.Unquote(q)
	if err != nil {
		return nil
	}
	return []byte(s)
}

// headerScan is what nginx knows of a head when it stops at a repeated
// header: the two lines ("Name: value", as sent), and the host and referrer
// that came before the second one.
type headerScan struct {
	first, second string
	host, referer string
}

// server is the server nginx has chosen by then: the Host line's (nameOf),
// else dflt (the default server's name).
func (h *headerScan) server(nameOf func(host []byte) string, dflt string) string {
	if h.host == "" {
		return dflt
	}
	return nameOf([]byte(h.host))
}

// scanHeaders reads raw header lines up to the second one named
// lowerName ("" reads them all), or with lowerName "\x00" up to the first
// line with a NUL, which is second, escaped up to the NUL, or with " " up
// to the first line that starts with a space or a tab (obs-fold), second
// "\x20" or "\x09". second is empty when raw (fasthttp's quote, cut at 200
// bytes) does not show that line.
func scanHeaders(raw []byte, lowerName string) headerScan {
	var h headerScan
	for len(raw) > 0 {
		var line []byte
		line, raw = httphead.CutLine(raw)
		if lowerName == " " && len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			h.second = httphead.EscapeUpTo(line, 0)
			break
		}
		if lowerName == "\x00" {
			if i := bytes.IndexByte(line, 0); i >= 0 {
				h.second = httphead.EscapeUpTo(line, i)
				break
			}
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(name) == 0 || name[0] == ' ' || name[0] == '\t' {
			continue
		}
		value = bytes.Trim(value, " \t")
		if lowerName != "" && bytes.EqualFold(name, []byte(lowerName)) {
			kv := string(name) + ": " + string(value)
			if h.first == "" {
				h.first = kv
			} else {
				h.second = kv
				break
			}
		}
		switch {
		case h.host == "" && bytes.EqualFold(name, []byte("host")):
			h.host = string(value)
		case h.referer == "" && bytes.EqualFold(name, []byte("referer")):
			h.referer = string(value)
		}
	}
	return h
}
