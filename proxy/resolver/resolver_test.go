package resolver

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"spillway/proxy/config"
)

// server is a DNS server on 127.0.0.1 (UDP, and TCP on the same port when
// truncate is set: UDP answers then carry only the TC bit). It counts the
// questions by name and type. The test stops it.
type server struct {
	addr netip.AddrPort
	mu   sync.Mutex
	asks map[string]int
}

func startServer(t *testing.T, truncate bool) *server {
	t.Helper()
	var pc net.PacketConn
	var ln net.Listener
	var err error
	// With truncate, TCP on the UDP socket's port: a few tries, as another
	// test may hold that TCP port.
	for range 20 {
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if !truncate {
			break
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	s := &server{addr: netip.MustParseAddrPort(pc.LocalAddr().String()), asks: map[string]int{}}
	handler := func(tcp bool) dns.HandlerFunc {
		return func(w dns.ResponseWriter, q *dns.Msg) {
			m := new(dns.Msg)
			m.SetReply(q)
			qq := q.Question[0]
			s.mu.Lock()
			s.asks[qq.Name+" "+dns.TypeToString[qq.Qtype]]++
			s.mu.Unlock()
			switch {
			case truncate && !tcp:
				m.Truncated = true
			case qq.Name != "app.test.":
				m.Rcode = dns.RcodeNameError
			case qq.Qtype == dns.TypeA:
				m.Answer = append(m.Answer,
					&dns.A{Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP("127.0.0.2")},
					&dns.A{Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 30}, A: net.ParseIP("127.0.0.3")})
			case qq.Qtype == dns.TypeAAAA:
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: 60}, AAAA: net.ParseIP("::1")})
			}
			_ = w.WriteMsg(m)
		}
	}
	start := func(srv *dns.Server) {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	start(&dns.Server{PacketConn: pc, Handler: handler(false)})
	if truncate {
		start(&dns.Server{Listener: ln, Handler: handler(true)})
	}
	return s
}

func (s *server) asked(q string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.asks[q]
}

// clock is a settable now.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestLookupAnswersAndTTL(t *testing.T) {
	s := startServer(t, false)
	c := &clock{t: time.Unix(1e9, 0)}
	r := New(config.Resolver{Servers: []netip.AddrPort{s.addr}, IPv4: true, IPv6: true, Timeout: 5 * time.Second})
	r.now = c.now
	want := []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3"), netip.MustParseAddr("::1")}
	for range 2 {
		got, err := r.Lookup(context.Background(), "APP.test.", nil)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("Lookup(APP.test.) = %v, %v; want %v (A records, then AAAA)", got, err, want)
		}
	}
	if a, aaaa := s.asked("app.test. A"), s.asked("app.test. AAAA"); a != 1 || aaaa != 1 {
		t.Errorf("asked A %d, AAAA %d times for two lookups; want 1 each (kept for the TTL)", a, aaaa)
	}
	c.t = c.t.Add(31 * time.Second) // past the smallest TTL, 30s
	if _, err := r.Lookup(context.Background(), "app.test", nil); err != nil {
		t.Fatal(err)
	}
	if a := s.asked("app.test. A"); a != 2 {
		t.Errorf("asked A %d times after the TTL passed, want 2", a)
	}

	_, err := r.Lookup(context.Background(), "gone.test", nil)
	if err == nil || err.Error() != "gone.test could not be resolved (3: Host not found)" {
		t.Errorf("Lookup(gone.test): %v", err)
	}
}

// valid= keeps answers for its time instead of their TTL; ipv6=off asks
// for A records only.
func TestLookupValid(t *testing.T) {
	s := startServer(t, false)
	c := &clock{t: time.Unix(1e9, 0)}
	r := New(config.Resolver{Servers: []netip.AddrPort{s.addr}, Valid: 5 * time.Second, IPv4: true, Timeout: 5 * time.Second})
	r.now = c.now
	for _, step := range []time.Duration{0, 4 * time.Second, 2 * time.Second} {
		c.t = c.t.Add(step)
		got, err := r.Lookup(context.Background(), "app.test", nil)
		if err != nil || len(got) != 2 {
			t.Fatalf("Lookup: %v, %v", got, err)
		}
	}
	if a, aaaa := s.asked("app.test. A"), s.asked("app.test. AAAA"); a != 2 || aaaa != 0 {
		t.Errorf("asked A %d, AAAA %d times; want A twice (valid=5s passed once), AAAA never (ipv6=off)", a, aaaa)
	}
}

// A truncated UDP answer is asked again over TCP.
func TestLookupTruncated(t *testing.T) {
	s := startServer(t, true)
	r := New(config.Resolver{Servers: []netip.AddrPort{s.addr}, IPv4: true, Timeout: 5 * time.Second})
	got, err := r.Lookup(context.Background(), "app.test", nil)
	if want := []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")}; err != nil || !slices.Equal(got, want) {
		t.Errorf("Lookup over TCP after TC: %v, %v; want %v", got, err, want)
	}
	if n := s.asked("app.test. A"); n != 2 {
		t.Errorf("asked %d times, want 2 (UDP, then TCP)", n)
	}
}
