// Package client is spillway's client side of a connection: what nginx does
// with the bytes a client sends before any phase runs, and with the socket
// after the answer. Its one idea: the client is judged and handled here by
// nginx's rules, the request's routing and proxying are package proxy's.
//
//	request head checks    Check: nginx's 400, 405, 414, 494 and 505 and
//	                       their `client sent ...` info lines, for a head
//	                       fasthttp parsed (check.go)
//	unparsed heads         ParseErrorEntry, HeadSoFar, LineEnded: nginx's
//	                       line for a head fasthttp refused (parseerr.go)
//	bare LF line ends      HeadLF: the first head's lone LFs made CRLF (barelf.go)
//	request targets        TargetHost, RouteHost: nginx's request-line
//	                       parser on the target (target.go)
//	TLS front              ServerTLSConfig (ssl_certificate, ssl_protocols,
//	                       ssl_ciphers, tickets, ssl_session_cache), PeekByte,
//	                       HandshakeConn, and nginx's lines for a failed
//	                       handshake (tls.go, tlscache.go)
//	lingering close        LingerClose: lingering_close, _time, _timeout (linger.go)
//
// The package knows nothing of sites, locations or the exchange: a check
// gets the server blocks it needs by name and settings (Server) and
// returns a Refusal (status, and what changes for the answer) after it
// wrote nginx's line; proxy's serve answers it.
package client
