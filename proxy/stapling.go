package proxy

// OCSP stapling: "ssl_stapling on" (nginx's ngx_event_openssl_stapling.c).
// The staplers (fetching, checking and presenting the responses) are
// package client's (client.ConfigureStapling, client.Stapler); a site
// starts its own when it goes live.

import (
	"spillway/proxy/client"
	"spillway/proxy/errorlog"
)

// startStapling gives the site's staplers the error log and logs why
// stapling is off for a certificate, as nginx does when it loads the
// configuration ([warn]).
func (s *site) startStapling(l *errorlog.Log) {
	seen := map[*client.Stapler]bool{}
	for _, st := range s.tls {
		for _, sp := range st.staplers {
			if seen[sp] {
				continue
			}
			seen[sp] = true
			sp.Start(l)
		}
	}
}
