package proxy

import (
	"net"

	"github.com/valyala/fasthttp"

	"spillway/proxy/client"
	"spillway/proxy/errorlog"
	"spillway/proxy/vars"
)

// headSoFar fills f from the head fasthttp quotes in err, as far as nginx
// had read it (client.HeadSoFar), and returns the server the Host line
// chose, else the default server.
func headSoFar(err error, vhosts []*vhost, f *errorlog.Fields) *vhost {
	host := client.HeadSoFar(err, f)
	if host == nil {
		return vhosts[0]
	}
	vh := vhostFor(vhosts, host)
	f.Server = vh.name
	return vh
}

// serverName is the name of the server a Host value chooses among vhosts.
func serverName(vhosts []*vhost) func(host []byte) string {
	return func(host []byte) string { return vhostFor(vhosts, host).name }
}

// logRefused writes the access-log line of a request the parser path
// answered or gave up on (Proxy.clientError), and counts it as the handler
// path counts its requests (stub_status "requests", requests by status).
// nginx logs these like any request: "GARBAGE" 400, "GET / HTTP/1.1" 400
// for a missing Host, 408 for a head that timed out. vh is the server whose
// log it is: the default one, or the Host line's when nginx had read it.
// f has the client, the request line ("" when fasthttp kept nothing of it)
// and the host and referrer when known; sent is the page's body size.
func (p *Proxy) logRefused(ctx *fasthttp.RequestCtx, s *site, vh *vhost, f *errorlog.Fields, conn uint64, status, sent int) {
	p.stats.requests.Add(1)
	p.stats.request(status, 0)
	logs := vh.conf.AllAccessLogs()
	if len(logs) == 0 || logs[0].Off {
		return
	}
	scheme := "http"
	if fc, ok := ctx.Conn().(*frontConn); ok && !fc.plain {
		scheme = "https"
	}
	rv := &refusedVars{
		req:  vars.Request{Line: f.Request, Host: f.Host, ServerName: vh.name, Scheme: scheme, BodyLength: -1},
		conn: vars.Conn{ID: conn, RemoteAddr: f.Client, PID: p.pid, Hostname: p.hostname},
		resp: vars.Response{Status: status, BodyBytesSent: int64(sent), ContentLength: int64(sent)},
	}
	if sent > 0 {
		// The page goes out right after (h1Loop.writeError), with these
		// lines: $bytes_sent is its head and body.
		h := &ctx.Response.Header
		if len(h.Server()) == 0 {
			h.SetServer(ServerName)
		}
		h.SetConnectionClose()
		h.SetContentLength(sent) // as fasthttp's write sets it
		rv.resp.BytesSent = int64(len(h.Header()) + sent)
	}
	if a, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		rv.conn.Remote, rv.conn.RemotePort = a.AddrPort().Addr().Unmap(), a.Port
	}
	if a, ok := ctx.LocalAddr().(*net.TCPAddr); ok {
		rv.conn.ServerAddr, rv.conn.ServerPort = a.AddrPort().Addr().Unmap(), a.Port
	}
	s.writeAccess(logs, rv)
}
