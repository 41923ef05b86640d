package proxy

import "github.com/valyala/fasthttp"

// Bare LF line ends in a request head: client.HeadLF makes them CRLF in a
// connection's first head (package client, barelf.go), and such a
// connection is closed after its response.

// closeIfBareLF answers a request whose head needed the fix with
// "Connection: close" and closes the connection after it.
func closeIfBareLF(ctx *fasthttp.RequestCtx) {
	if c := clientConnOf(ctx.Conn()); c != nil && c.head.Fixed() {
		ctx.SetConnectionClose()
	}
}
