package proxy

// Client certificates: "ssl_verify_client" (nginx's
// ngx_http_ssl_module with OpenSSL's verification).
//
// As in nginx, a certificate that fails verification does not fail the
// handshake: the server asks for one (crypto/tls's RequestClientCert, with
// ssl_client_certificate's names in the request), the chain is verified
// once per connection when the handshake is done, against the settings of
// the server block the handshake chose by SNI, and the request is answered
// by the server block its Host names: 496 "No required SSL certificate was
// sent" or 495 "The SSL certificate error" (both sent as 400, then close),
// with nginx's info lines. The result is $ssl_client_verify: SUCCESS,
// FAILED:reason (OpenSSL's reason), or NONE. The handshake's side (asking
// for a certificate, OpenSSL's chain verification) is package client's
// (ConfigureClientAuth, VerifyClientChain, ClientCert); what needs the
// site's server blocks or the exchange is here.

import (
	"crypto/tls"
	"strings"
	"time"

	"spillway/proxy/client"
	"spillway/proxy/config"
	"spillway/proxy/errorlog"
)

// noClientCert is the record of a connection that asks for no certificate.
var noClientCert client.ClientCert

// serverFor is the server block a handshake for sni took its settings from
// (siteTLS.pick's rule).
func (st *siteTLS) serverFor(sni string) *vhost {
	if len(st.vhosts) > 1 && sni != "" {
		if vh := vhostFor(st.vhosts, []byte(sni)); st.configs[vh] != nil {
			return vh
		}
	}
	for _, vh := range st.vhosts {
		if st.configs[vh] != nil {
			return vh
		}
	}
	return nil
}

// checkClientCert verifies the certificate a client sent in a handshake
// that just finished, with the settings of the server block that took it.
func (fa *frontAddr) checkClientCert(cs tls.ConnectionState) *client.ClientCert {
	cc := &client.ClientCert{SNI: cs.ServerName, Sent: len(cs.PeerCertificates) > 0}
	if !cc.Sent {
		return cc
	}
	st := fa.p.site.Load().tls[fa.addr]
	if st == nil {
		return cc
	}
	vh := st.serverFor(cs.ServerName)
	if vh == nil || vh.conf.TLS.ClientVerify.Mode == config.VerifyOff {
		return cc
	}
	cc.Code, cc.Reason = client.VerifyClientChain(&vh.conf.TLS.ClientVerify, cs.PeerCertificates, time.Now())
	return cc
}

// clientCertOf returns the client-certificate record of the connection a
// request came on, nil on a plain connection.
func clientCertOf(c any) *client.ClientCert {
	if s, ok := c.(*h2Stream); ok {
		c = s.conn
	}
	if _, ok := c.(*quicConn); ok {
		return &noClientCert // HTTP/3 asks for none: "on" is 496 there, never let through
	}
	if f, ok := c.(*frontConn); ok && !f.plain {
		return f.cert
	}
	return nil
}

// clientCertValid is nginx's check in ngx_http_process_request and
// ngx_http_set_virtual_server, for the server block the request's Host
// chose: a Host other than the handshake's SNI name is 421 when that
// server verifies certificates; then 495 for a certificate that failed,
// 496 for none where one is required. false means answered.
func (x *exchange) clientCertValid(vhosts []*vhost) bool {
	v := &x.vh.conf.TLS.ClientVerify
	if v.Mode == config.VerifyOff {
		return true
	}
	cc := clientCertOf(x.ctx.Conn())
	if cc == nil {
		return true
	}
	// nginx compares names only where several servers share the address.
	if h := hostOnly(x.host); len(vhosts) > 1 && cc.SNI != "" && len(h) > 0 && !strings.EqualFold(cc.SNI, strings.TrimSuffix(string(h), ".")) {
		// nginx is still in the server the SNI name chose when it logs
		// this, and closes after the page (measured with nginx 1.22.1).
		x.fields.Server = vhostFor(vhosts, []byte(cc.SNI)).name
		x.logf(errorlog.Info, "client attempted to request the server name different from the one that was negotiated", 0, "reading client request headers")
		x.errPage.close = true
		x.page(421)
		return false
	}
	if cc.Rejected(v.Mode) {
		x.logf(errorlog.Info, "client SSL certificate verify error: ("+itoa(cc.Code)+":"+cc.Reason+")", 0, "reading client request headers")
		x.page(495)
		return false
	}
	if v.Mode == config.VerifyOn && !cc.Sent {
		x.logf(errorlog.Info, "client sent no required SSL certificate", 0, "reading client request headers")
		x.page(496)
		return false
	}
	return true
}
