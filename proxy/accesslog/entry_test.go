package accesslog

import (
	"crypto/tls"
	"encoding/base64"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"spillway/proxy/vars"
)

// Entry describes a request flat, as the tests write them, and is its
// vars.Exchange: the head is built from the fields on first use and kept,
// so writing one Entry again does not allocate.
type Entry struct {
	RemoteAddr, RemoteUser string
	Time                   time.Time
	Line                   string // the request line
	Status                 int
	BodyBytesSent          int64
	BytesSent              int64

	Referer, UserAgent, Host, ServerName, Method, URI, RequestURI, Scheme string

	RequestTime  time.Duration
	ConnID       uint64
	ConnRequests uint64

	// As nginx prints them: "127.0.0.1:9001, 127.0.0.1:9002", "502, 200".
	UpstreamAddr, UpstreamStatus, UpstreamResponseTime, UpstreamConnectTime, UpstreamHeaderTime string

	Headers map[string]string // more request headers

	built bool
	h     fasthttp.RequestHeader
	req   vars.Request
	conn  vars.Conn
	resp  vars.Response
	att   []vars.Attempt
}

func (e *Entry) build() {
	if e.built {
		return
	}
	e.built = true
	e.h.DisableNormalizing()
	if e.Method != "" || e.RequestURI != "" {
		e.h.SetMethod(e.Method)
		e.h.SetRequestURI(e.RequestURI)
	}
	if e.Host != "" {
		e.h.SetHost(e.Host)
	}
	if e.Referer != "" {
		e.h.Set("Referer", e.Referer)
	}
	if e.UserAgent != "" {
		e.h.SetUserAgent(e.UserAgent)
	}
	if e.RemoteUser != "" { // $remote_user is the Basic credentials' user
		e.h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(e.RemoteUser+":pw")))
	}
	for k, v := range e.Headers {
		e.h.Set(k, v)
	}
	_, args, _ := strings.Cut(e.RequestURI, "?")
	e.req = vars.Request{Args: args, RequestURI: e.RequestURI, InvalidTarget: e.RequestURI == "", Start: e.Time, Line: e.Line, URI: e.URI, Host: e.Host, ServerName: e.ServerName,
		Scheme: e.Scheme, BodyLength: -1}
	e.conn = vars.Conn{ID: e.ConnID, Requests: e.ConnRequests, RemoteAddr: e.RemoteAddr, PID: os.Getpid()}
	e.resp = vars.Response{Status: e.Status, BodyBytesSent: e.BodyBytesSent, BytesSent: e.BytesSent, RequestTime: e.RequestTime}
	if e.UpstreamAddr == "" {
		return
	}
	addrs := strings.Split(e.UpstreamAddr, ", ")
	field := func(s string, i int) string {
		f := strings.Split(s, ", ")
		if i < len(f) {
			return f[i]
		}
		return "-"
	}
	dur := func(s string) time.Duration {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return -1
		}
		return time.Duration(f*1000+0.5) * time.Millisecond
	}
	for i, a := range addrs {
		st, _ := strconv.Atoi(field(e.UpstreamStatus, i))
		e.att = append(e.att, vars.Attempt{Addr: a, Status: st, ResponseTime: dur(field(e.UpstreamResponseTime, i)),
			ConnectTime: dur(field(e.UpstreamConnectTime, i)), HeaderTime: dur(field(e.UpstreamHeaderTime, i))})
	}
}

func (e *Entry) Header() *fasthttp.RequestHeader { e.build(); return &e.h }
func (e *Entry) Request() *vars.Request          { e.build(); return &e.req }
func (e *Entry) Conn() *vars.Conn                { e.build(); return &e.conn }
func (e *Entry) Response() *vars.Response        { e.build(); return &e.resp }
func (e *Entry) Attempts() []vars.Attempt        { e.build(); return e.att }
func (e *Entry) TLS() *tls.ConnectionState       { return nil }
