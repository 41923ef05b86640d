package difftest

import (
	"net"
	"strings"

	"github.com/miekg/dns"
)

// startDNS starts a scenario's DNS server on listenHost (UDP): the names
// of a answer with their A records ("{HOST0}" is host0, the first upstream
// server's address), "fail.test." with SERVFAIL, any other with NXDOMAIN.
// It returns its address; cleanup stops it.
func startDNS(a map[string][]string, host0 string, cleanup Cleanup) (string, error) {
	pc, err := net.ListenPacket("udp", listenHost+":0")
	if err != nil {
		return "", err
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) },
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
			m := new(dns.Msg)
			m.SetReply(q)
			name := strings.ToLower(q.Question[0].Name)
			switch {
			case name == "fail.test.":
				m.Rcode = dns.RcodeServerFailure
			case a[name] == nil:
				m.Rcode = dns.RcodeNameError
			case q.Question[0].Qtype == dns.TypeA:
				for _, ip := range a[name] {
					if ip == "{HOST0}" {
						ip = host0
					}
					m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: net.ParseIP(ip)})
				}
			}
			_ = w.WriteMsg(m)
		})}
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String(), nil
}

// withPlaceholders returns s with "{DNS}" (the scenario's DNS server) and
// "{PORT0}" (the first upstream server's port) replaced in the values of
// its directives, its server's and its locations'.
func withPlaceholders(s *Scenario, dnsAddr string, addrs []string) *Scenario {
	port0 := ""
	if len(addrs) > 0 {
		_, port0, _ = net.SplitHostPort(addrs[0])
	}
	r := strings.NewReplacer("{DNS}", dnsAddr, "{PORT0}", port0)
	sub := func(ds []Directive) []Directive {
		out := make([]Directive, len(ds))
		for i, d := range ds {
			out[i] = Directive{Name: d.Name, Value: r.Replace(d.Value)}
		}
		return out
	}
	c := *s
	c.Directives, c.ServerDirectives = sub(s.Directives), sub(s.ServerDirectives)
	c.Locations = make([]Location, len(s.Locations))
	for i, l := range s.Locations {
		c.Locations[i] = Location{Path: l.Path, Directives: sub(l.Directives)}
	}
	return &c
}
