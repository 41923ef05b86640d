package proxy

// ssl_certificate with variables ("ssl_certificate
// /etc/ssl/$ssl_server_name.crt"): the pair is loaded at each handshake,
// with the variables of the connection ($ssl_server_name, $remote_addr,
// $server_port... and maps of them), as nginx's ngx_http_ssl_certificate
// does. A pair is kept while its files' sizes and times stay, so a busy
// site does not parse PEM per handshake and a renewed certificate still
// applies to the next one. A pair that does not load fails the handshake
// with nginx's [error] line (logClientHandshake).

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"spillway/proxy/config"
	"spillway/proxy/vars"
)

// varCerts are one server's certificates with variables.
type varCerts struct {
	pairs     []varPair
	passwords []string
	cache     *certCache
}

type varPair struct{ cert, key *vars.Value }

// newVarCerts compiles t's pairs with variables; nil when it has none.
func newVarCerts(t *config.ServerTLS, maps *vars.Maps, cache *certCache) (*varCerts, error) {
	if len(t.VarCertificates) == 0 {
		return nil, nil
	}
	vc := &varCerts{passwords: t.Passwords, cache: cache}
	for _, p := range t.VarCertificates {
		c, err := vars.Compile(p.CertFile, maps)
		if err != nil {
			return nil, err
		}
		k, err := vars.Compile(p.KeyFile, maps)
		if err != nil {
			return nil, err
		}
		vc.pairs = append(vc.pairs, varPair{c, k})
	}
	return vc, nil
}

// errCertLoad fails a handshake whose certificate did not load (the line
// is in the HandshakeConn's CertError).
var errCertLoad = errors.New("certificate with variables not loaded")

// getCertificate is the server's tls.Config.GetCertificate: the first pair
// the client supports, as crypto/tls picks among static ones.
func (vc *varCerts) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	hv := &handshakeVars{}
	hv.tls.ServerName = hello.ServerName
	if a, ok := hello.Conn.RemoteAddr().(*net.TCPAddr); ok {
		hv.conn.RemoteAddr, hv.conn.RemotePort = a.AddrPort().Addr().Unmap().String(), a.Port
		hv.conn.Remote = a.AddrPort().Addr().Unmap()
	}
	if a, ok := hello.Conn.LocalAddr().(*net.TCPAddr); ok {
		hv.conn.ServerAddr, hv.conn.ServerPort = a.AddrPort().Addr().Unmap(), a.Port
	}
	var first *tls.Certificate
	for _, p := range vc.pairs {
		cf, kf := string(p.cert.Append(nil, hv)), string(p.key.Append(nil, hv))
		pair, msg := vc.cache.load(cf, kf, vc.passwords)
		if msg != "" {
			if h, ok := hello.Conn.(handshakeReader); ok {
				h.hc.CertError = msg
			}
			return nil, errCertLoad
		}
		if first == nil {
			first = pair
		}
		if hello.SupportsCertificate(pair) == nil {
			return pair, nil
		}
	}
	return first, nil
}

// handshakeVars is the vars.Exchange of a handshake: the connection's
// addresses and the SNI name, no request.
type handshakeVars struct {
	req  vars.Request
	conn vars.Conn
	resp vars.Response
	tls  tls.ConnectionState
}

func (h *handshakeVars) Header() *fasthttp.RequestHeader { return nil }
func (h *handshakeVars) Request() *vars.Request          { return &h.req }
func (h *handshakeVars) Conn() *vars.Conn                { return &h.conn }
func (h *handshakeVars) Response() *vars.Response        { return &h.resp }
func (h *handshakeVars) Attempts() []vars.Attempt        { return nil }
func (h *handshakeVars) TLS() *tls.ConnectionState       { return &h.tls }

// certCache keeps the pairs certificates with variables loaded, per
// site, while their files do not change.
type certCache struct {
	mu    sync.Mutex
	pairs map[[2]string]cachedPair
}

type cachedPair struct {
	pair  *tls.Certificate
	stamp [2]fileStamp
}

type fileStamp struct {
	size int64
	mod  time.Time
}

// certCacheMax bounds the cache: a site with more names than this loads
// the others at each handshake, as nginx does without a cache.
const certCacheMax = 1024

func stampOf(name string) (fileStamp, bool) {
	fi, err := os.Stat(name)
	if err != nil {
		return fileStamp{}, false
	}
	return fileStamp{fi.Size(), fi.ModTime()}, true
}

// load returns the pair of the two files, from the cache when they did not
// change since, else read (config.LoadCertificate's message on failure).
func (cc *certCache) load(cert, key string, passwords []string) (*tls.Certificate, string) {
	k := [2]string{cert, key}
	cs, cok := stampOf(cert)
	ks, kok := stampOf(key)
	if cok && kok {
		cc.mu.Lock()
		e, ok := cc.pairs[k]
		cc.mu.Unlock()
		if ok && e.stamp == [2]fileStamp{cs, ks} {
			return e.pair, ""
		}
	}
	pair, msg := config.LoadCertificate(cert, key, passwords)
	if msg != "" {
		return nil, msg
	}
	if cok && kok {
		cc.mu.Lock()
		if cc.pairs == nil || len(cc.pairs) >= certCacheMax {
			cc.pairs = map[[2]string]cachedPair{}
		}
		cc.pairs[k] = cachedPair{pair, [2]fileStamp{cs, ks}}
		cc.mu.Unlock()
	}
	return pair, ""
}
