// Package client is the client connection's side of spillway, by nginx's
// rules: whether what a client sent is a request nginx would take (and if
// not, the status and the `client sent ...` line), how the TLS front
// greets it, and how bytes go back to its socket and how that socket is
// closed. It knows nothing of sites, locations, upstreams or the exchange;
// package proxy routes and proxies the request and calls in here.
//
//	request head checks    Check: nginx's 400, 405, 414, 494, 501 and 505 and
//	                       their `client sent ...` info lines, for a head
//	                       fasthttp parsed (check.go)
//	unparsed heads         ParseErrorEntry, ParseErrorStatus, HeadSoFar,
//	                       LineEnded: nginx's line and status (400, 501 for
//	                       an unknown transfer coding) for a head fasthttp
//	                       refused (parseerr.go)
//	bare LF line ends      HeadLF: each head's lone LFs made CRLF (barelf.go); a name byte nginx ignores the line for made "." (logged as sent)
//	request targets        TargetHost, RouteHost: nginx's request-line
//	                       parser on the target; MaskTarget keeps "//:://"
//	                       a path through fasthttp's parser (target.go)
//	HTTP/1.9               HeadReceived, HTTP11: a later HTTP/1.x is HTTP/1.1
//	                       (kept alive, chunked) with its version as sent
//	                       in $server_protocol and $request (version.go)
//	PROXY protocol         ProxyProto: the header before the first request,
//	                       its address and nginx's "broken header" line
//	                       (proxyproto.go)
//	TLS front              ServerTLSConfig (ssl_certificate, ssl_protocols,
//	                       ssl_ciphers, tickets, ssl_session_cache), PeekByte,
//	                       HandshakeConn, and nginx's lines for a failed
//	                       handshake (tls.go, tlscache.go)
//	client certificates    ConfigureClientAuth, VerifyClientChain: ssl_verify_client's
//	                       request and OpenSSL's chain verification with its
//	                       X509_V_ERR_* codes (depth, CRLs); ClientCert: the
//	                       result, $ssl_client_verify and 495 (clientcert.go)
//	OCSP stapling          ConfigureStapling, Stapler: ssl_stapling's responses,
//	                       fetched, checked and refreshed on nginx's clock
//	                       (stapling.go)
//	socket writer          SocketWriter: write, writev and sendfile through
//	                       the poller, EAGAIN reported as a stall (socketwriter.go)
//	lingering close        LingerClose: lingering_close, _time, _timeout (linger.go)
//
// A check gets the server blocks it needs by name and settings (Server)
// and returns a Refusal (status, and what changes for the answer) after it
// wrote nginx's line; proxy's serve answers it.
package client
