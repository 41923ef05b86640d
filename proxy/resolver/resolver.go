// Package resolver is nginx's resolver (ngx_resolver.c) as far as a
// proxy_pass with variables needs it: the A and AAAA records of a name,
// asked of the DNS servers the resolver directive lists (github.com/miekg/dns
// on the wire), kept for their TTL or valid=, and nginx's error texts.
package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"spillway/proxy/config"
)

// resendTimeout is nginx's resolver resend timeout: a server that has not
// answered a query in that time is asked again (or the next one is).
const resendTimeout = 5 * time.Second

// negativeTTL is how long an answer without addresses is kept when the
// resolver has no valid= (nginx keeps it for the SOA's minimum; a few
// seconds keep a mistyped name from asking the server on every request).
const negativeTTL = 10 * time.Second

// Codes of Error: the DNS response codes nginx reports (ngx_resolver_strerror),
// and its timeout (NGX_ETIMEDOUT).
const (
	CodeFormat   = 1
	CodeServer   = 2
	CodeNotFound = 3
	CodeNotImpl  = 4
	CodeRefused  = 5
	CodeTimedOut = 110
)

// Error is a name that could not be resolved, with nginx's code and text.
type Error struct {
	Name string
	Code int
}

// Error is nginx's line: `NAME could not be resolved (3: Host not found)`.
func (e *Error) Error() string {
	return fmt.Sprintf("%s could not be resolved (%d: %s)", e.Name, e.Code, codeText(e.Code))
}

func codeText(c int) string {
	switch c {
	case CodeFormat:
		return "Format error"
	case CodeServer:
		return "Server failure"
	case CodeNotFound:
		return "Host not found"
	case CodeNotImpl:
		return "Unimplemented"
	case CodeRefused:
		return "Operation refused"
	case CodeTimedOut:
		return "Operation timed out"
	}
	return "Unknown error"
}

// Resolver answers names for one resolver directive. Safe for concurrent
// use; requests for a name being looked up wait for that lookup.
type Resolver struct {
	conf config.Resolver
	now  func() time.Time

	mu    sync.Mutex
	cache map[string]*entry
}

type entry struct {
	done    chan struct{} // closed when addrs, err and expires are set
	addrs   []netip.Addr
	err     *Error
	expires time.Time
	valid   time.Time // expires, at least minValid past the answer (Cached); zero when not kept
}

// New returns the resolver of c (c.Servers not empty).
func New(c config.Resolver) *Resolver {
	return &Resolver{conf: c, now: time.Now, cache: map[string]*entry{}}
}

// Conf returns what r was built from.
func (r *Resolver) Conf() config.Resolver { return r.conf }

// maxEntries bounds the cache: names come from requests.
const maxEntries = 4096

// FailFunc is told of a server that failed a query with errno (for
// nginx's "recv() failed (111: Connection refused) while resolving,
// resolver: ADDR" line).
type FailFunc func(server string, errno syscall.Errno)

// Lookup returns the addresses of name: A records then AAAA, as the
// resolver's ipv4=/ipv6= ask. The error is an *Error, or ctx's. failed
// (nil: none) hears of the servers that failed this lookup's queries.
func (r *Resolver) Lookup(ctx context.Context, name string, failed FailFunc) ([]netip.Addr, error) {
	addrs, _, err := r.lookup(ctx, name, failed)
	if err != nil {
		return nil, err
	}
	return addrs, nil
}

// Cached is Query through the cache Lookup keeps: the answer a question
// still valid or in flight for name gives, or a new one. Every caller that
// shares the answer gets the same expiry (nginx's resolver cache), so the
// servers with resolve that ask for one name ask again together. The
// expiry is at least a second past the answer's arrival, so that a name
// is asked at most once a second. A failure other than "not found" has no
// expiry (the zero time) and is not kept.
func (r *Resolver) Cached(ctx context.Context, name string) ([]netip.Addr, time.Time, *Error) {
	addrs, expires, err := r.lookup(ctx, name, nil)
	var rerr *Error
	if err != nil && !errors.As(err, &rerr) {
		return nil, time.Time{}, &Error{Name: name, Code: CodeTimedOut} // ctx ended: the caller stops
	}
	return addrs, expires, rerr
}

// minValid is the shortest time a cached answer for Cached is kept.
const minValid = time.Second

func (r *Resolver) lookup(ctx context.Context, name string, failed FailFunc) ([]netip.Addr, time.Time, error) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	now := r.now()
	r.mu.Lock()
	e := r.cache[name]
	if e != nil {
		select {
		case <-e.done:
			if now.After(e.expires) {
				e = nil // stale: look it up again
			}
		default: // another request is looking it up
		}
	}
	owner := e == nil
	if owner {
		if len(r.cache) >= maxEntries {
			r.evict(now)
		}
		e = &entry{done: make(chan struct{})}
		r.cache[name] = e
	}
	r.mu.Unlock()

	var mu sync.Mutex // held while failed runs; gone: the caller has returned
	gone := false
	defer func() { mu.Lock(); gone = true; mu.Unlock() }()
	if owner {
		// The query is the name's, not the request's: it goes on (for at
		// most the resolver's timeout) when the request stops waiting,
		// and its answer is kept for the next. failed is the caller's:
		// it is not called once the caller has returned.
		tell := failed
		if failed != nil {
			tell = func(server string, errno syscall.Errno) {
				mu.Lock()
				defer mu.Unlock()
				if !gone {
					failed(server, errno)
				}
			}
		}
		go func() {
			e.addrs, e.expires, e.err = r.query(context.Background(), name, tell)
			if e.err != nil && e.err.Code == CodeTimedOut {
				e.expires = time.Time{} // a timeout is not kept
			}
			e.valid = e.expires
			if !e.expires.IsZero() {
				e.valid = maxTime(e.expires, r.now().Add(minValid))
			}
			close(e.done)
		}()
	}
	select {
	case <-e.done:
	case <-ctx.Done():
		return nil, time.Time{}, ctx.Err()
	}
	if e.err != nil {
		return nil, e.valid, e.err
	}
	return e.addrs, e.valid, nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// evict drops expired entries, or all when none has expired; r.mu is held.
func (r *Resolver) evict(now time.Time) {
	for k, e := range r.cache {
		select {
		case <-e.done:
			if now.After(e.expires) {
				delete(r.cache, k)
			}
		default:
		}
	}
	if len(r.cache) >= maxEntries {
		for k, e := range r.cache {
			select {
			case <-e.done:
				delete(r.cache, k)
			default:
			}
		}
	}
}

// Query asks the servers for name's addresses now, without the cache,
// within resolver_timeout or until ctx ends: an upstream server with
// resolve asks again when the answer expires. A name without addresses
// is CodeNotFound, expiring after valid= or negativeTTL; a ctx that
// ended is CodeTimedOut.
func (r *Resolver) Query(ctx context.Context, name string, failed FailFunc) ([]netip.Addr, time.Time, *Error) {
	return r.query(ctx, strings.ToLower(strings.TrimSuffix(name, ".")), failed)
}

// query asks the servers for name's records within resolver_timeout.
func (r *Resolver) query(ctx context.Context, name string, failed FailFunc) ([]netip.Addr, time.Time, *Error) {
	deadline := r.now().Add(r.conf.Timeout)
	var types []uint16
	if r.conf.IPv4 {
		types = append(types, dns.TypeA)
	}
	if r.conf.IPv6 {
		types = append(types, dns.TypeAAAA)
	}
	var addrs []netip.Addr
	ttl := uint32(0)
	first := true
	for _, t := range types {
		as, min, err := r.ask(ctx, name, t, deadline, failed)
		if err != nil {
			return nil, time.Time{}, err
		}
		if len(as) > 0 && (first || min < ttl) {
			ttl, first = min, false
		}
		addrs = append(addrs, as...)
	}
	valid := time.Duration(ttl) * time.Second
	if len(addrs) == 0 {
		valid = negativeTTL
	}
	if r.conf.Valid > 0 {
		valid = r.conf.Valid
	}
	expires := r.now().Add(valid)
	if len(addrs) == 0 {
		return nil, expires, &Error{Name: name, Code: CodeNotFound}
	}
	return addrs, expires, nil
}

// ask sends one question to the servers in turn, each given resendTimeout
// (or what is left), until one answers or the deadline passes. A truncated
// UDP answer is asked again over TCP.
func (r *Resolver) ask(ctx context.Context, name string, qtype uint16, deadline time.Time, failed FailFunc) ([]netip.Addr, uint32, *Error) {
	q := name
	for range maxCNAMEs {
		addrs, ttl, cname, err := r.askOnce(ctx, q, qtype, deadline, failed)
		if err != nil {
			err.Name = name // nginx names the name asked, not the CNAME's
			return nil, 0, err
		}
		if len(addrs) > 0 || cname == "" {
			return addrs, ttl, nil
		}
		q = cname // an answer with only a CNAME: ask for its target (nginx's ngx_resolver_process_a)
	}
	return nil, 0, &Error{Name: name, Code: CodeServer}
}

// maxCNAMEs bounds a chain of CNAME answers.
const maxCNAMEs = 8

// askOnce is one question of ask; cname is the target of a CNAME answer
// for name that came without addresses.
func (r *Resolver) askOnce(ctx context.Context, name string, qtype uint16, deadline time.Time, failed FailFunc) (_ []netip.Addr, _ uint32, cname string, _ *Error) {
	in, err := r.exchange(ctx, name, qtype, deadline, failed)
	if err != nil {
		return nil, 0, "", err
	}
	var addrs []netip.Addr
	var ttl uint32
	for _, rr := range in.Answer {
		var ip net.IP
		switch a := rr.(type) {
		case *dns.A:
			ip = a.A
		case *dns.AAAA:
			ip = a.AAAA
		case *dns.CNAME:
			if strings.EqualFold(a.Hdr.Name, dns.Fqdn(name)) {
				cname = strings.TrimSuffix(a.Target, ".")
			}
			continue
		default:
			continue
		}
		ad, ok := netip.AddrFromSlice(ip)
		if !ok {
			continue
		}
		if qtype == dns.TypeA {
			ad = ad.Unmap()
		}
		if len(addrs) == 0 || rr.Header().Ttl < ttl {
			ttl = rr.Header().Ttl
		}
		addrs = append(addrs, ad)
	}
	return addrs, ttl, cname, nil
}

// exchange sends one question to the servers in turn, each given
// resendTimeout (or what is left), until one answers with a usable code or
// the deadline passes or ctx ends. A truncated UDP answer is asked again
// over TCP.
func (r *Resolver) exchange(ctx context.Context, name string, qtype uint16, deadline time.Time, failed FailFunc) (*dns.Msg, *Error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	for i := 0; ; i++ {
		left := deadline.Sub(r.now())
		if left <= 0 || ctx.Err() != nil {
			return nil, &Error{Name: name, Code: CodeTimedOut}
		}
		server := r.conf.Servers[i%len(r.conf.Servers)].String()
		c := &dns.Client{Net: "udp", Timeout: min(left, resendTimeout)}
		in, _, err := c.ExchangeContext(ctx, m, server)
		if err == nil && in.Truncated {
			c.Net = "tcp"
			in, _, err = c.ExchangeContext(ctx, m, server)
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue // resend, to the next server
			}
			// A refused port or a broken answer: nginx logs it ("recv()
			// failed (111: Connection refused) while resolving") and the
			// query waits for its resend, as here.
			var errno syscall.Errno
			if errors.As(err, &errno) && failed != nil {
				failed(server, errno)
			}
			t := time.NewTimer(min(left, resendTimeout))
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
			continue
		}
		switch in.Rcode {
		case dns.RcodeSuccess:
			return in, nil
		case dns.RcodeNameError:
			return nil, &Error{Name: name, Code: CodeNotFound}
		case dns.RcodeFormatError, dns.RcodeServerFailure, dns.RcodeNotImplemented, dns.RcodeRefused:
			return nil, &Error{Name: name, Code: in.Rcode}
		default:
			return nil, &Error{Name: name, Code: CodeServer}
		}
	}
}

// SRV is one SRV record of a service: where its server is, and how it
// ranks among the others.
type SRV struct {
	Target   string
	Port     uint16
	Priority uint16
	Weight   uint16
}

// QuerySRV asks the servers for name's SRV records now, without the cache,
// within resolver_timeout or until ctx ends, and when it expires (the
// records' smallest TTL, or valid=). A name without records is
// CodeNotFound.
func (r *Resolver) QuerySRV(ctx context.Context, name string, failed FailFunc) ([]SRV, time.Time, *Error) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	deadline := r.now().Add(r.conf.Timeout)
	var out []SRV
	var ttl uint32
	q := name
	for range maxCNAMEs {
		in, err := r.exchange(ctx, q, dns.TypeSRV, deadline, failed)
		if err != nil {
			err.Name = name
			return nil, time.Time{}, err
		}
		cname := ""
		for _, rr := range in.Answer {
			switch s := rr.(type) {
			case *dns.SRV:
				if len(out) == 0 || s.Hdr.Ttl < ttl {
					ttl = s.Hdr.Ttl
				}
				out = append(out, SRV{Target: strings.ToLower(strings.TrimSuffix(s.Target, ".")), Port: s.Port, Priority: s.Priority, Weight: s.Weight})
			case *dns.CNAME:
				if strings.EqualFold(s.Hdr.Name, dns.Fqdn(q)) {
					cname = strings.TrimSuffix(s.Target, ".")
				}
			}
		}
		if len(out) > 0 || cname == "" {
			break
		}
		q = cname // only a CNAME: ask for its target's records
	}
	valid := time.Duration(ttl) * time.Second
	if len(out) == 0 {
		valid = negativeTTL
	}
	if r.conf.Valid > 0 {
		valid = r.conf.Valid
	}
	if len(out) == 0 {
		return nil, r.now().Add(valid), &Error{Name: name, Code: CodeNotFound}
	}
	return out, r.now().Add(valid), nil
}
