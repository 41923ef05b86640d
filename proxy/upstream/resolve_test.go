package upstream

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"spillway/proxy/config"
	"spillway/proxy/errorlog"
	"spillway/proxy/resolver"
)

// dnsServer is a DNS server on 127.0.0.1 whose answers for app.test the
// test sets: A records, SRV records, or an rcode. A question is answered
// with what was set when it arrived, but only once the test has looked at
// the state it found (next releases it): when next returns a question, the
// previous answer has been applied (a resolve server asks again only after
// applying one) and this question's answer has not been sent yet.
type dnsServer struct {
	addr    netip.AddrPort
	asked   chan string
	release chan struct{} // next: answer the question it returned before
	done    chan struct{} // the test ended: answer what is held
	held    bool          // next returned a question not yet released (the test's goroutine only)

	mu    sync.Mutex
	a     []string // A records of app.test and of its SRV targets
	srv   []*dns.SRV
	rcode int
}

func startDNS(t *testing.T) *dnsServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &dnsServer{addr: netip.MustParseAddrPort(pc.LocalAddr().String()), asked: make(chan string, 64),
		release: make(chan struct{}), done: make(chan struct{})}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		qq := q.Question[0]
		s.mu.Lock()
		m.Rcode = s.rcode
		if s.rcode == dns.RcodeSuccess {
			hdr := dns.RR_Header{Name: qq.Name, Class: dns.ClassINET, Ttl: 1}
			switch qq.Qtype {
			case dns.TypeA:
				for _, a := range s.a {
					hdr.Rrtype = dns.TypeA
					m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: net.ParseIP(a)})
				}
			case dns.TypeSRV:
				for _, r := range s.srv {
					r := *r
					hdr.Rrtype = dns.TypeSRV
					r.Hdr = hdr
					m.Answer = append(m.Answer, &r)
				}
			}
		}
		s.mu.Unlock()
		s.asked <- strings.TrimSuffix(qq.Name, ".") + " " + dns.TypeToString[qq.Qtype]
		select {
		case <-s.release:
		case <-s.done:
		}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { close(s.done); _ = srv.Shutdown() })
	return s
}

func (s *dnsServer) set(rcode int, a []string, srv ...*dns.SRV) {
	s.mu.Lock()
	s.rcode, s.a, s.srv = rcode, a, srv
	s.mu.Unlock()
}

// next answers the question it returned before, then waits for the next
// one and returns it, held unanswered.
func (s *dnsServer) next(t *testing.T) string {
	t.Helper()
	if s.held {
		s.release <- struct{}{}
	}
	s.held = true
	select {
	case q := <-s.asked:
		return q
	case <-time.After(30 * time.Second): // a hang, not a timing assertion
		t.Fatal("no DNS question")
		return ""
	}
}

// syncWriter is a log buffer the resolve goroutine writes while the test
// reads it.
type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return stripTime(w.b.String())
}

func addrs(g *Group) []string {
	var out []string
	for _, p := range g.Peers() {
		out = append(out, p.Addr())
	}
	return out
}

// A server with resolve follows its name's A records: added addresses get
// peers, kept ones keep theirs (with their failure count), a failed query
// (SERVFAIL) keeps the last addresses with nginx's error line, and a name
// that no longer exists leaves the group with no peer ("no live upstreams").
func TestResolveServerFollowsDNS(t *testing.T) {
	d := startDNS(t)
	d.set(dns.RcodeSuccess, []string{"127.0.0.2"})
	conf := &config.Upstream{Zone: "z", Resolver: config.Resolver{Servers: []netip.AddrPort{d.addr}, IPv4: true, Valid: time.Second, Timeout: time.Second},
		Servers: []config.UpstreamServer{
			{Name: "10.0.0.9:80", Address: "10.0.0.9:80", Weight: 1, MaxFails: 3, FailTimeout: time.Minute},
			{Name: "app.test:8080", Address: "app.test:8080", Weight: 1, MaxFails: 3, FailTimeout: time.Minute, Resolve: true},
		}}
	g := NewGroup("u", conf, nil)
	if got := addrs(g); !slices.Equal(got, []string{"10.0.0.9:80"}) {
		t.Fatalf("before the first answer: %v", got)
	}
	logw := &syncWriter{}
	var hc HealthChecks
	hc.Start(map[string]*Group{"u": g}, errorlog.New(logw, errorlog.Info, errorlog.Options{PID: 1}))
	defer hc.Stop()

	if q := d.next(t); q != "app.test A" {
		t.Fatalf("asked %q", q)
	}
	d.set(dns.RcodeSuccess, []string{"127.0.0.2", "127.0.0.3"})
	d.next(t) // the first answer is applied
	if got := addrs(g); !slices.Equal(got, []string{"10.0.0.9:80", "127.0.0.2:8080"}) {
		t.Fatalf("after the first answer: %v", got)
	}
	first := g.Peers()[1]
	g.Failed(first)
	d.set(dns.RcodeServerFailure, nil)
	d.next(t)
	if got := addrs(g); !slices.Equal(got, []string{"10.0.0.9:80", "127.0.0.2:8080", "127.0.0.3:8080"}) {
		t.Fatalf("after the second answer: %v", got)
	}
	if g.Peers()[1] != first || g.States()[1].Fails != 1 {
		t.Fatal("the kept address lost its peer or its failure count")
	}
	d.set(dns.RcodeNameError, nil)
	d.next(t) // SERVFAIL applied: nothing changes
	if got := addrs(g); len(got) != 3 {
		t.Fatalf("a failed query changed the servers: %v", got)
	}
	d.set(dns.RcodeSuccess, []string{"127.0.0.3"})
	d.next(t) // NXDOMAIN applied: the name's servers are gone
	if got := addrs(g); !slices.Equal(got, []string{"10.0.0.9:80"}) {
		t.Fatalf("after NXDOMAIN: %v", got)
	}
	d.next(t)
	if got := addrs(g); !slices.Equal(got, []string{"10.0.0.9:80", "127.0.0.3:8080"}) {
		t.Fatalf("after the name came back: %v", got)
	}
	want := "[error] 1#1: app.test could not be resolved (2: Server failure)\n" +
		"[error] 1#1: app.test could not be resolved (3: Host not found)\n"
	if got := logw.String(); got != want {
		t.Errorf("log:\n%s\nwant:\n%s", got, want)
	}
}

// With only resolve servers, a name without addresses is a group without
// peers: Pick finds none. One address is a lone server (no failure
// accounting), as in nginx.
func TestResolveEmptyAndSingle(t *testing.T) {
	d := startDNS(t)
	d.set(dns.RcodeSuccess, nil)
	conf := &config.Upstream{Zone: "z", Resolver: config.Resolver{Servers: []netip.AddrPort{d.addr}, IPv4: true, Valid: time.Second, Timeout: time.Second},
		Servers: []config.UpstreamServer{{Name: "app.test:8080", Address: "app.test:8080", Weight: 1, MaxFails: 1, FailTimeout: time.Minute, Resolve: true}}}
	g := NewGroup("u", conf, nil)
	var hc HealthChecks
	hc.Start(map[string]*Group{"u": g}, nil)
	defer hc.Stop()
	d.next(t)
	d.set(dns.RcodeSuccess, []string{"127.0.0.2"})
	d.next(t)
	if p := g.Pick(nil); p != nil {
		t.Fatalf("picked %s from an empty answer", p.Addr())
	}
	d.next(t)
	p := g.Pick(nil)
	if p == nil || p.Addr() != "127.0.0.2:8080" {
		t.Fatalf("picked %v", p)
	}
	if g.Failed(p) || g.Pick(nil) != p {
		t.Fatal("a lone resolved server was disabled by a failure")
	}
}

// Two groups whose servers with resolve name the same host, sharing the
// configuration's resolver, share its answers as nginx's resolver cache
// does: one question a round, and both groups take each answer before the
// next is asked, so that a change in DNS reaches both together
// (upstream_resolve_reload.t asks once and expects both to follow). Each
// group asking on its own clock would send a second question in the first
// round, whose group would still be without peers here.
func TestResolveGroupsShareAnswers(t *testing.T) {
	d := startDNS(t)
	d.set(dns.RcodeSuccess, []string{"127.0.0.2"})
	rc := config.Resolver{Servers: []netip.AddrPort{d.addr}, IPv4: true, Valid: time.Second, Timeout: time.Second}
	shared := resolver.New(rc)
	groups := map[string]*Group{}
	for _, name := range []string{"u", "u2"} {
		conf := &config.Upstream{Zone: "z", Resolver: rc, Servers: []config.UpstreamServer{
			{Name: "app.test:8080", Address: "app.test:8080", Weight: 1, MaxFails: 1, FailTimeout: time.Minute, Resolve: true}}}
		groups[name] = NewGroup(name, conf, nil)
		groups[name].ShareResolver(shared)
	}
	var hc HealthChecks
	hc.Start(groups, nil)
	defer hc.Stop()
	for round := range 3 {
		if q := d.next(t); q != "app.test A" {
			t.Fatalf("round %d: asked %q", round, q)
		}
		if round > 0 { // the answer to the previous question, 127.0.0.(round+1)
			want := fmt.Sprintf("127.0.0.%d:8080", round+1)
			for name, g := range groups {
				if got := addrs(g); !slices.Equal(got, []string{want}) {
					t.Fatalf("round %d: group %s has %v when the next question comes, want [%s]", round, name, got, want)
				}
			}
		}
		d.set(dns.RcodeSuccess, []string{fmt.Sprintf("127.0.0.%d", round+3)})
	}
}

// service=http asks for _http._tcp.NAME's SRV records, then for each
// target's addresses: the best priority's are primary servers with the
// record's weight and port, the others backup.
func TestResolveService(t *testing.T) {
	d := startDNS(t)
	d.set(dns.RcodeSuccess, []string{"127.0.0.2"},
		&dns.SRV{Priority: 1, Weight: 5, Port: 8081, Target: "app.test."},
		&dns.SRV{Priority: 2, Weight: 0, Port: 8082, Target: "app.test."})
	conf := &config.Upstream{Zone: "z", Resolver: config.Resolver{Servers: []netip.AddrPort{d.addr}, IPv4: true, Valid: time.Second, Timeout: time.Second},
		Servers: []config.UpstreamServer{{Name: "app.test", Address: "app.test:80", Weight: 1, MaxFails: 1, FailTimeout: time.Minute, Resolve: true, Service: "http"}}}
	g := NewGroup("u", conf, nil)
	var hc HealthChecks
	hc.Start(map[string]*Group{"u": g}, nil)
	defer hc.Stop()
	if q := d.next(t); q != "_http._tcp.app.test SRV" {
		t.Fatalf("asked %q", q)
	}
	if q := d.next(t); q != "app.test A" {
		t.Fatalf("asked %q", q)
	}
	d.next(t) // the second target's question
	d.next(t) // the next round: the answer is applied
	var got []string
	for _, s := range g.States() {
		got = append(got, fmt.Sprintf("%s backup=%v weight=%d", s.Peer.Addr(), s.Peer.conf.Backup, s.Peer.conf.Weight))
	}
	if want := []string{"127.0.0.2:8081 backup=false weight=5", "127.0.0.2:8082 backup=true weight=1"}; !slices.Equal(got, want) {
		t.Fatalf("peers %v, want %v", got, want)
	}
}
