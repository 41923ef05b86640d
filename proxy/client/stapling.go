package client

// OCSP stapling: "ssl_stapling on" (nginx's ngx_event_openssl_stapling.c).
//
// Each certificate of a server block that staples has a Stapler. With
// ssl_stapling_file the file's response is stapled as it is, always. Else
// the response is fetched from the OCSP responder (ssl_stapling_responder,
// or the certificate's Authority Information Access URL) as nginx does:
// not at start but when a handshake finds the response due (the first
// clients get none), in the background, with a GET of the base64 request;
// a response is stapled while it is valid (until its nextUpdate) and
// refreshed before that: at nextUpdate minus 5 minutes but within the
// hour and not sooner than in 5 minutes; a failed fetch is retried in 5
// minutes and keeps the previous response while it is valid. A response
// that is not "good" for the certificate, or (ssl_stapling_verify) whose
// signature is not the issuer's, is logged and not stapled.
//
// ConfigureStapling sets a server block's handshake configuration to
// present its staplers' responses; package proxy gives each Stapler the
// error log when a configuration starts (Stapler.Start).

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ocsp"

	"spillway/proxy/config"
	"spillway/proxy/errorlog"
)

// nginx's timings (ngx_ssl_stapling_ocsp_handler, ngx_ssl_ocsp_validate).
const (
	staplingRetry   = 5 * time.Minute // after a failure; and the least time to the next refresh
	staplingRefresh = time.Hour       // the most time to the next refresh
	staplingTimeout = 60 * time.Second
	staplingMaxBody = 16 << 10 // nginx reads the response into a 16k buffer
)

// Stapler staples one certificate.
type Stapler struct {
	base      *tls.Certificate // as loaded: no staple
	file      string           // ssl_certificate, for the log lines
	leaf      *x509.Certificate
	issuer    *x509.Certificate
	responder *url.URL
	verify    bool
	skip      string // why stapling is off for this certificate (logged at start); "" = on
	log       atomic.Pointer[errorlog.Log]
	now       func() time.Time

	out atomic.Pointer[tls.Certificate] // what handshakes present: base, or a copy with the staple

	mu      sync.Mutex
	valid   time.Time // the staple in out is good until then
	refresh time.Time // fetch again from then
	loading bool
}

// ConfigureStapling makes c present each certificate with its Stapler's
// current response, and returns the staplers.
func ConfigureStapling(c *tls.Config, t *config.ServerTLS) []*Stapler {
	s := &t.Stapling
	if !s.On || len(t.Certificates) == 0 {
		return nil
	}
	ss := make([]*Stapler, len(t.Certificates))
	for i, ck := range t.Certificates {
		ss[i] = newStapler(ck, s)
	}
	c.Certificates = nil // crypto/tls asks GetCertificate only without them (or with SNI)
	c.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		for _, st := range ss { // the first the client supports, as crypto/tls picks among Certificates
			if hello.SupportsCertificate(st.base) == nil {
				return st.current(), nil
			}
		}
		return ss[0].current(), nil
	}
	return ss
}

func newStapler(ck config.Certificate, s *config.Stapling) *Stapler {
	st := &Stapler{base: ck.Pair, file: ck.CertFile, leaf: ck.Pair.Leaf, verify: s.Verify, now: time.Now}
	st.out.Store(st.base)
	if s.Response != nil { // ssl_stapling_file: as it is, for good
		c := *st.base
		c.OCSPStaple = s.Response
		st.out.Store(&c)
		st.valid = time.Unix(1<<62, 0)
		st.refresh = st.valid
		return st
	}
	st.issuer = findIssuer(st.leaf, ck.Pair.Certificate[1:], s.Trusted)
	if st.issuer == nil {
		st.skip = fmt.Sprintf(`"ssl_stapling" ignored, issuer certificate not found for certificate "%s"`, st.file)
		return st
	}
	r := s.Responder
	if r == "" && len(st.leaf.OCSPServer) > 0 {
		r = st.leaf.OCSPServer[0]
	}
	if r == "" {
		st.skip = fmt.Sprintf(`"ssl_stapling" ignored, no OCSP responder URL in the certificate "%s"`, st.file)
		return st
	}
	u, err := url.Parse(r)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		st.skip = fmt.Sprintf(`"ssl_stapling" ignored, invalid URL prefix in OCSP responder "%s" in the certificate "%s"`, r, st.file)
		return st
	}
	st.responder = u
	return st
}

// findIssuer looks for leaf's issuer in the certificate file's chain, then
// in ssl_trusted_certificate.
func findIssuer(leaf *x509.Certificate, chain [][]byte, trusted []*x509.Certificate) *x509.Certificate {
	var cands []*x509.Certificate
	for _, der := range chain {
		if c, err := x509.ParseCertificate(der); err == nil {
			cands = append(cands, c)
		}
	}
	for _, c := range append(cands, trusted...) {
		if bytes.Equal(c.RawSubject, leaf.RawIssuer) && leaf.CheckSignatureFrom(c) == nil {
			return c
		}
	}
	return nil
}

// Start gives the stapler the error log and logs why stapling is off for
// its certificate, as nginx does when it loads the configuration ([warn]).
func (st *Stapler) Start(l *errorlog.Log) {
	st.log.Store(l)
	if st.skip != "" && l != nil {
		l.Logf(errorlog.Warn, "%s", st.skip)
	}
}

// current is the certificate a handshake presents now: with the staple
// while it is valid. It starts a fetch when one is due.
func (st *Stapler) current() *tls.Certificate {
	if st.responder == nil {
		return st.out.Load()
	}
	now := st.now()
	st.mu.Lock()
	if !st.loading && !now.Before(st.refresh) {
		st.loading = true
		go st.fetch()
	}
	stale := !st.valid.IsZero() && !now.Before(st.valid)
	st.mu.Unlock()
	if stale {
		return st.base
	}
	return st.out.Load()
}

// fetch asks the responder and keeps a good response.
func (st *Stapler) fetch() {
	der, peer, err := st.request()
	var resp *ocsp.Response
	if err == nil {
		resp, err = st.check(der)
	}
	now := st.now()
	st.mu.Lock()
	defer st.mu.Unlock()
	st.loading = false
	if err != nil {
		st.refresh = now.Add(staplingRetry)
		st.logFailure(err, peer)
		return
	}
	valid := resp.NextUpdate
	if valid.IsZero() {
		valid = time.Unix(1<<62, 0)
	}
	c := *st.base
	c.OCSPStaple = der
	st.out.Store(&c)
	st.valid = valid
	refresh := valid.Add(-staplingRetry)
	if h := now.Add(staplingRefresh); h.Before(refresh) {
		refresh = h
	}
	if m := now.Add(staplingRetry); refresh.Before(m) {
		refresh = m
	}
	st.refresh = refresh
}

// logFailure logs a failed fetch with nginx's lines (measured with nginx
// 1.22.1): a refused connection is nginx's recv() error and then its
// "prematurely closed" line.
func (st *Stapler) logFailure(err error, peer string) {
	l := st.log.Load()
	if l == nil {
		return
	}
	while := fmt.Sprintf(`requesting certificate status, responder: %s, peer: %s, certificate: "%s"`, st.responder.Hostname(), peer, st.file)
	if errno := errorlog.ErrnoOf(err); errno != 0 {
		l.Write(&errorlog.Entry{Level: errorlog.Error, Msg: "recv() failed", Errno: errno, Action: while})
		err = errors.New("OCSP responder prematurely closed connection")
	}
	l.Write(&errorlog.Entry{Level: errorlog.Error, Msg: err.Error(), Action: while})
}

// request GETs the response for the base64 OCSP request, as nginx sends
// it, and says which address it asked.
func (st *Stapler) request() (der []byte, peer string, err error) {
	req, err := ocsp.CreateRequest(st.leaf, st.issuer, nil)
	if err != nil {
		return nil, "", fmt.Errorf("OCSP request failed (%v)", err)
	}
	u := *st.responder
	p := u.EscapedPath()
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	target := u.Scheme + "://" + u.Host + p + url.QueryEscape(base64.StdEncoding.EncodeToString(req))
	ctx, cancel := context.WithTimeout(context.Background(), staplingTimeout)
	defer cancel()
	peer = u.Host
	if u.Port() == "" {
		peer = net.JoinHostPort(u.Hostname(), "80")
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, peer, fmt.Errorf("OCSP responder URL is invalid (%v)", err)
	}
	var d net.Dialer
	// The dial may run in another goroutine; nginx asks the responder
	// directly, never through a proxy.
	var dialed atomic.Pointer[string]
	tr := &http.Transport{DisableKeepAlives: true, Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err == nil {
				a := c.RemoteAddr().String()
				dialed.Store(&a)
			}
			return c, err
		}}
	res, err := (&http.Client{Transport: tr}).Do(hr)
	if a := dialed.Load(); a != nil {
		peer = *a
	}
	if err != nil {
		var ne interface{ Timeout() bool }
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, peer, errors.New("OCSP responder timed out")
		}
		if errorlog.ErrnoOf(err) != 0 {
			return nil, peer, err
		}
		return nil, peer, errors.New("OCSP responder prematurely closed connection")
	}
	defer res.Body.Close()
	// nginx reads past the status code (its parser takes any), so a
	// responder's error page fails as the response it is not.
	if ct := res.Header.Get("Content-Type"); !strings.EqualFold(ct, "application/ocsp-response") {
		return nil, peer, fmt.Errorf("OCSP responder sent invalid \"Content-Type\" header: \"%s\"", ct)
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, staplingMaxBody+1))
	if err != nil {
		return nil, peer, errors.New("OCSP responder prematurely closed connection")
	}
	if len(b) > staplingMaxBody {
		return nil, peer, errors.New("OCSP responder sent too long response")
	}
	return b, peer, nil
}

// check is nginx's ngx_ssl_ocsp_verify for a stapled response: parsed,
// for this certificate, signed by the issuer (with ssl_stapling_verify),
// "good", and current.
func (st *Stapler) check(der []byte) (*ocsp.Response, error) {
	var issuer *x509.Certificate
	if st.verify {
		issuer = st.issuer
	}
	resp, err := ocsp.ParseResponseForCert(der, st.leaf, issuer)
	if err != nil {
		if m := err.Error(); strings.HasPrefix(m, "bad OCSP signature") || strings.HasPrefix(m, "bad signature on embedded certificate") {
			return nil, fmt.Errorf("OCSP_basic_verify() failed (%v)", err) // ssl_stapling_verify
		}
		return nil, fmt.Errorf("d2i_OCSP_RESPONSE() failed (%v)", err)
	}
	if resp.SerialNumber == nil || resp.SerialNumber.Cmp(st.leaf.SerialNumber) != 0 {
		return nil, errors.New("certificate status not found in the OCSP response")
	}
	switch resp.Status {
	case ocsp.Good:
	case ocsp.Revoked:
		return nil, errors.New(`certificate status "revoked" in the OCSP response`)
	default:
		return nil, errors.New(`certificate status "unknown" in the OCSP response`)
	}
	now := st.now()
	if resp.ThisUpdate.After(now.Add(staplingRetry)) || !resp.NextUpdate.IsZero() && resp.NextUpdate.Before(now) {
		return nil, errors.New("OCSP_check_validity() failed")
	}
	return resp, nil
}
